"""A proxyless gRPC client and its servers, for mesh-xds/tests/grpc_proxyless.rs.

Usage: xds_echo.py XDS_ADDR NODE_ID PORT[,PORT...]

Starts one gRPC server per port on 127.0.0.1; the server on the i-th port answers the
generic unary method /test.Echo/Call with b"v<i+1>:" + the request. Then reads commands from
stdin, one per line, and answers each with one line on stdout:

    call TARGET [KEY=VALUE ...]   ->  "ok <reply>" or "error <CODE> <details>"

The call goes through a channel to xds:///TARGET, resolved by grpcio's own xDS client from
a bootstrap naming XDS_ADDR as the only xDS server and NODE_ID with metadata GENERATOR=grpc.
"""

import json
import os
import sys
import tempfile
from concurrent import futures


def main() -> None:
    xds, node_id, ports = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    bootstrap = {
        "xds_servers": [
            {
                "server_uri": xds,
                "channel_creds": [{"type": "insecure"}],
                "server_features": ["xds_v3"],
            }
        ],
        "node": {
            "id": node_id,
            "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"},
            "locality": {},
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bootstrap, f)
    # Read by grpcio when the first xds:/// channel is made.
    os.environ["GRPC_XDS_BOOTSTRAP"] = f.name

    import grpc  # after the bootstrap is in the environment

    servers = []
    for i, port in enumerate(ports):
        version = f"v{i + 1}".encode()

        def call(request, context, version=version):
            return version + b":" + request

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)}
                ),
            )
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        servers.append(server)
    print("ready", flush=True)

    channels = {}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] != "call" or len(words) < 2:
            print(f"error BAD_COMMAND {line.strip()}", flush=True)
            continue
        target = words[1]
        metadata = tuple(tuple(kv.split("=", 1)) for kv in words[2:])
        channel = channels.get(target)
        if channel is None:
            channel = grpc.insecure_channel("xds:///" + target)
            channels[target] = channel
        method = channel.unary_unary("/test.Echo/Call")
        try:
            reply = method(b"hi", metadata=metadata, timeout=15, wait_for_ready=True)
            print("ok " + reply.decode(), flush=True)
        except grpc.RpcError as e:
            details = (e.details() or "").replace("\n", " ")
            print(f"error {e.code().name} {details}", flush=True)

    for server in servers:
        server.stop(None)
    os.unlink(f.name)


if __name__ == "__main__":
    main()
