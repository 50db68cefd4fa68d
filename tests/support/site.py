"""The local site used by tests is the same one the platform's demo serves (clearframe.demo_site)."""

from clearframe.demo_site import Route, Site, video_page

__all__ = ["Route", "Site", "video_page"]
