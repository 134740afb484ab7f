#!/bin/sh
# The Lambda handler of the upstream function: the AWS Lambda Web Adapter starts it and forwards
# each request to the port the server listens on (AWS_LWA_PORT).
exec python3 server.py
