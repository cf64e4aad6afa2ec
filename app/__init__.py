"""possync: keeps point-of-sale records in step with the programs a shop runs beside its POS."""
