"""Reading Agent Zero backups so that Soma can preview (and later restore) them."""
