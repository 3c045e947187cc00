"""A small installed app with models for the data binding tests (app label ``values``)."""
