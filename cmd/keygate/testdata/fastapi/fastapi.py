"""A test double of the few FastAPI names the README's dependency uses.

FastAPI cannot be installed where the tests run (no PyPI), so this stands
in for it: Header, HTTPException, Depends and a FastAPI app whose routes
serve.py calls the way FastAPI would, resolving Depends and Header
parameters. It is no part of Keygate.
"""


class HTTPException(Exception):
    def __init__(self, status_code, detail=None, headers=None):
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class _Header:
    def __init__(self, default):
        self.default = default


def Header(default=None):
    return _Header(default)


class _Depends:
    def __init__(self, dependency):
        self.dependency = dependency


def Depends(dependency):
    return _Depends(dependency)


class FastAPI:
    def __init__(self):
        self.routes = {}

    def _route(self, method, path):
        def register(endpoint):
            self.routes[(method, path)] = endpoint
            return endpoint

        return register

    def get(self, path):
        return self._route("GET", path)

    def post(self, path):
        return self._route("POST", path)
