-- One row per customer: paid and shipped orders, units and revenue.
SELECT
    c.customer_id,
    c.name,
    c.country,
    count(o.order_id) AS orders,
    coalesce(sum(o.quantity), 0) AS units,
    coalesce(sum(o.quantity * p.unit_price), 0) AS revenue,
    min(o.placed_at) AS first_order_at,
    max(o.placed_at) AS last_order_at
FROM crm.customers AS c
LEFT JOIN webshop.orders AS o
    ON o.customer_id = c.customer_id AND o.status IN ('paid', 'shipped')
LEFT JOIN inventory.products AS p
    ON p.product_id = o.product_id
GROUP BY ALL
