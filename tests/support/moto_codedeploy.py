"""moto's server with CodeDeploy's timestamps as the CodeDeploy API sends them.

moto 5.2.1 answers a deployment's (and an application's) createTime as
ISO-8601 text ("2026-12-06T19:39:02.645Z"). The CodeDeploy API is awsJson1_1,
whose timestamps are epoch seconds (a JSON number): boto3 reads both, but the
Rust SDK reads only the number, so every GetDeployment/BatchGetDeployments
answer would fail to parse. This wrapper makes moto's CodeDeploy stamp epoch
seconds instead; nothing else changes (MOTO_LAMBDA_STUB_ECR and the rest
apply as for moto_server).

Usage: python moto_codedeploy.py PORT
"""

import sys
import time

import moto.codedeploy.models as codedeploy_models
from moto.server import main

codedeploy_models.iso_8601_datetime_with_milliseconds = lambda: round(time.time(), 3)

main(["-H", "127.0.0.1", "-p", sys.argv[1]])
