"""The chat example project: the end state of the Channels "Getting Started" tutorial."""
