"""What governs the stored records: erasure, legal holds, retention, named queries and reports."""
