"""`${VAR}` interpolation of catalog strings: kind-neutral, it lives in `resources.env`."""

from resources.env import MissingVariableError, check_references, interpolate, references

__all__ = ["MissingVariableError", "check_references", "interpolate", "references"]
