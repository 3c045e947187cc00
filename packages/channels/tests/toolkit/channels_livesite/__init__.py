"""A small project whose own test suite uses ChannelLiveServerTestCase (run by test_liveserver)."""
