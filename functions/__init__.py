"""The deployable functions: thin CloudEvent handlers over ``shared``."""
