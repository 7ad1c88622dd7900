"""Small helpers named in the seed README (``spire.utils.fix_fleurs_path``)."""
