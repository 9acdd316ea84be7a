-- The item as the `for_each` tool returned it, so an item whose run crashed can be resumed even
-- when the ticket no longer matches the selection (its own write moved it out).
ALTER TABLE work_items ADD COLUMN payload TEXT;
