"""Throwaway database servers for tests that need server settings the machine's own lack."""
