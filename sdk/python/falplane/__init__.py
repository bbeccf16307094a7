"""falplane: the Python app SDK for the falplane serverless runner platform.

    import falplane

    class MyApp(falplane.App):
        def setup(self): ...
        @falplane.endpoint("/")
        def run(self, input: dict) -> dict: ...

The harness that serves an App is `python -m falplane.runner file.py::MyApp`.
It is deliberately not imported here (running a module with -m that its
package already imported would load it twice).
"""

from .app import App, HTTPError, RequestContext, endpoint

__all__ = ["App", "HTTPError", "RequestContext", "endpoint", "__version__"]
__version__ = "0.1.0"
