"""Serves the app of a module (argv[1]) built with the fastapi test double
on 127.0.0.1:$PORT, calling its endpoints as FastAPI would."""
import http.server
import importlib.util
import inspect
import json
import os
import sys

import fastapi

spec = importlib.util.spec_from_file_location("app_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


def call(function, headers):
    """Calls function with its Depends and Header parameters resolved."""
    kwargs = {}
    for name, param in inspect.signature(function).parameters.items():
        if isinstance(param.default, fastapi._Depends):
            kwargs[name] = call(param.default.dependency, headers)
        elif isinstance(param.default, fastapi._Header):
            kwargs[name] = headers.get(name.replace("_", "-"), param.default.default)
    return function(**kwargs)


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        endpoint = module.app.routes.get((self.command, self.path.split("?")[0]))
        if endpoint is None:
            status, body = 404, {"detail": "Not Found"}
        else:
            try:
                status, body = 200, call(endpoint, self.headers)
            except fastapi.HTTPException as e:
                status, body = e.status_code, {"detail": e.detail}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
