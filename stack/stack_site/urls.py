"""No Django views: every HTTP path is answered by stack_site.consumers."""

urlpatterns: list[object] = []
