"""Published DFQ methods as plugins."""
