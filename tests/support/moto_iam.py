"""moto_server for the Lambda tests that enforce IAM (`enforce-iam` in
lambda_fixture.py): moto 5.2.1 checks every request's SigV4 signature once
IAM is enforced, and computes it over a made-up body for a GET without one
(`IAMRequestBase._create_aws_request` signs `data=self._body or self._data`,
and Werkzeug hands it the form data of an empty GET), so every Lambda GET
(GetAlias, ListFunctions, ...) fails with SignatureDoesNotMatch for any user.
The patch signs an empty body for a request that has none, as AWS does;
writes keep being checked against the user's policy (AccessDenied), which is
what the tests want to see. Usage: moto_iam.py PORT
"""
import os
import sys

from botocore.awsrequest import AWSRequest
from moto.iam import access_control as ac


def _create_aws_request(self):
    signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed, self._headers)
    form = "x-www-form-urlencoded" in self._headers.get("Content-Type", "")
    req = AWSRequest(method=self._method, url=self._path, headers=headers,
                     data=self._body or (self._data if form else b""))
    req.context["timestamp"] = headers["X-Amz-Date"]
    return req


ac.IAMRequestBase._create_aws_request = _create_aws_request

if __name__ == "__main__":
    os.environ.setdefault("MOTO_LAMBDA_STUB_ECR", "false")
    from moto.server import main
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
