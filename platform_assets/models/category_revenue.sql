-- Revenue per product category, month and customer country.
SELECT
    p.category,
    date_trunc('month', o.placed_at) AS month,
    c.country,
    count(*) AS orders,
    sum(o.quantity) AS units,
    sum(o.quantity * p.unit_price) AS revenue
FROM webshop.orders AS o
JOIN inventory.products AS p USING (product_id)
JOIN crm.customers AS c USING (customer_id)
WHERE o.status <> 'cancelled'
GROUP BY ALL
