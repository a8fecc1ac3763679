"""Lambda functions, versions and aliases on moto, for the Lambda platform tests.

Start moto with MOTO_LAMBDA_STUB_ECR=false: image functions then take their
CodeSha256 from the image put into moto's ECR (the manifest digest, in hex),
as AWS does, rather than from the sha256 of the ImageUri string.

  lambda_fixture.py URL image-function NAME ALIAS [REPO]
      IAM role, ECR repository REPO (default NAME) holding two images put with
      explicit digests, an image function on repo@digest1, version 1, ALIAS -> 1.
      -> {"function_arn", "repository_uri", "digests": [d1, d2], "versions": ["1"], "alias"}
  lambda_fixture.py URL zip-function NAME ALIAS
      The same with two small zip packages built in memory (byte-identical on
      every run and for every NAME, so one function's package can be promoted
      into another's).
      -> {"function_arn", "packages": [{"code_sha256" (base64, as Lambda shows it),
          "sha256" (hex), "digest" ("sha256:" + hex), "zip_base64"}, ...],
          "digests": [d1, d2], "versions": ["1"], "alias"}
  lambda_fixture.py URL zip-functions PREFIX COUNT ALIAS [THREADS]
      COUNT zip functions PREFIX-1 .. PREFIX-COUNT as zip-function makes one
      (package 1, version 1, ALIAS -> 1), THREADS (default 8) at a time: the
      fleet of the Lambda reading's measure (scripts/bench-lambda.sh). Again:
      the functions that exist already are left as they are.
      -> {"functions": COUNT, "alias", "digest" (package 1's), "created"}
  lambda_fixture.py URL publish NAME [CODE_SHA256]
      $LATEST updated to the second artifact (image: same repository @digest2)
      unless it holds it already, then PublishVersion (with CodeSha256 when
      given: moto ignores it). Again: the same version back, as AWS does.
      -> {"version", "code_sha256", "digest"}
  lambda_fixture.py URL alias NAME ALIAS
      GetAlias -> {"FunctionVersion", "RoutingConfig", "Weights" ({} when none),
                   "Description", "RevisionId", "AliasArn", "Name"}
  lambda_fixture.py URL function NAME [QUALIFIER]
      GetFunctionConfiguration ($LATEST unless QUALIFIER) and the published
      versions -> {"Version", "CodeSha256", "PackageType", "digest",
                   "versions": ListVersionsByFunction's, "$LATEST" first}
  lambda_fixture.py URL set-alias NAME ALIAS VERSION [WEIGHT_VERSION WEIGHT]
      A hand change: one UpdateAlias, the weights set (or cleared), the
      description left alone. -> the alias as `alias` prints it
  lambda_fixture.py URL codedeploy NAME ALIAS [CURRENT TARGET]
      A CodeDeploy application (Lambda) + deployment group + a deployment whose
      AppSpec names NAME/ALIAS, CURRENT (default: the alias's version) -> TARGET
      (default: the newest published version). moto keeps it "Created" forever;
      never call StopDeployment on moto (500).
      -> {"application", "deployment_group", "deployment_id", "status", "appspec"}
  lambda_fixture.py URL restricted-user [NAME]
      An IAM user (default shipdeck-readonly) allowed lambda:Get*, lambda:List*
      and sts:GetCallerIdentity only.
      -> {"user", "arn", "access_key_id", "secret_access_key"}
  lambda_fixture.py URL user NAME
      An IAM user allowed everything: a second identity (STS GetCallerIdentity
      answers its ARN even while IAM is not enforced). -> the same fields
  lambda_fixture.py URL enforce-iam [COUNT]
      POST /moto-api/reset-auth with body COUNT (default 0; "inf" switches the
      checks off again), Content-Type text/plain (as a form, moto answers 500).
      From then on moto checks every request's signature and the caller's IAM
      policies, on the whole server. moto 5.2.1 then refuses EVERY Lambda GET
      (GetAlias, GetFunction, ListFunctions, ...) with SignatureDoesNotMatch,
      whoever signs it (/work/notes/lambda-moto.md says why): only writes reach
      the policy check. So call `enforce-iam inf` before any further fixture
      call that reads. -> moto's answer

Credentials: "test"/"test", or LAMBDA_FIXTURE_ACCESS_KEY_ID and
LAMBDA_FIXTURE_SECRET_ACCESS_KEY when set.
Output is one JSON object on stdout; a failure exits 1 (2 for bad usage) with
the AWS error code and message on stderr.
"""
import base64
import hashlib
import io
import json
import os
import re
import sys
import urllib.request
import zipfile

import boto3
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"
ROLE = "shipdeck-lambda-role"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def usage(msg):
    sys.stderr.write(f"lambda_fixture.py: {msg} (the commands are listed at the top of {__file__})\n")
    sys.exit(2)


def fail(msg):
    sys.stderr.write(f"lambda_fixture.py {' '.join(sys.argv[2:])}: {msg}\n")
    sys.exit(1)


if len(sys.argv) < 3:
    usage("expected URL COMMAND [ARGS]")
URL, WHAT, ARGS = sys.argv[1], sys.argv[2], sys.argv[3:]
KW = dict(endpoint_url=URL, region_name=REGION,
          aws_access_key_id=os.environ.get("LAMBDA_FIXTURE_ACCESS_KEY_ID") or "test",
          aws_secret_access_key=os.environ.get("LAMBDA_FIXTURE_SECRET_ACCESS_KEY") or "test")


def client(name):
    return boto3.client(name, **KW)


# ---- the artifacts: fixed bytes, so their digests are the same on every run ----

def image_manifest(n):
    """A Docker schema-2 manifest (compact JSON, as put) for image n (1 or 2)."""
    config = f"shipdeck lambda fixture image {n} config".encode()
    layer = f"shipdeck lambda fixture image {n} layer".encode()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest()}],
    }, separators=(",", ":"), sort_keys=True)


def image_digest(n):
    # As ECR computes it: the sha256 of the manifest's bytes.
    return "sha256:" + hashlib.sha256(image_manifest(n).encode()).hexdigest()


def zip_package(n):
    """A zip holding handler.py for package n (1 or 2), byte-identical on every run."""
    buf = io.BytesIO()
    # Stored, not deflated: no zlib version can change the bytes.
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("handler.py", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        z.writestr(info, f"VERSION = {n}\n\n\ndef handler(event, context):\n"
                         f"    return {{\"version\": VERSION}}\n")
    return buf.getvalue()


def package_json(n):
    data = zip_package(n)
    raw = hashlib.sha256(data).digest()
    return {"code_sha256": base64.b64encode(raw).decode(), "sha256": raw.hex(),
            "digest": "sha256:" + raw.hex(), "zip_base64": base64.b64encode(data).decode()}


# ---- helpers ----

def role_arn():
    iam = client("iam")
    try:
        return iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]


def repository(repo):
    ecr = client("ecr")
    try:
        return ecr.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
            raise
        return ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryUri"]


def put_images(repo):
    ecr = client("ecr")
    digests = []
    for n in (1, 2):
        want = image_digest(n)
        try:
            got = ecr.put_image(repositoryName=repo, imageManifest=image_manifest(n),
                                imageTag=f"v{n}", imageDigest=want)["image"]["imageId"]["imageDigest"]
        except ClientError as e:
            # A repository shared by several functions: put once.
            if e.response["Error"]["Code"] != "ImageAlreadyExistsException":
                raise
            got = want
        if got != want:
            fail(f"ECR stored image {n} as {got}, not the digest put ({want})")
        digests.append(want)
    return digests


def wait_updated(lam, name):
    # moto answers Successful at once; AWS may take a moment.
    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def publish_checked(lam, name, expect_hex, code_sha256=None):
    kw = {"FunctionName": name}
    if code_sha256 is not None:
        kw["CodeSha256"] = code_sha256
    v = lam.publish_version(**kw)
    if v["CodeSha256"] not in (expect_hex, base64.b64encode(bytes.fromhex(expect_hex)).decode()):
        fail(f"version {v['Version']} has CodeSha256 {v['CodeSha256']}, expected sha256:{expect_hex}")
    return v


def already(call, code):
    """`call`, where an error `code` means it exists already (a second run)."""
    try:
        call()
    except ClientError as e:
        if e.response["Error"]["Code"] != code:
            raise


def alias_json(lam, name, alias):
    a = lam.get_alias(FunctionName=name, Name=alias)
    a.pop("ResponseMetadata", None)
    a.setdefault("RoutingConfig", None)
    a.setdefault("Description", "")
    a["Weights"] = (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return a


def digest_of(config):
    """`sha256:` + hex from a function configuration's CodeSha256."""
    sha = config["CodeSha256"]
    if config.get("PackageType") == "Image":
        return "sha256:" + sha
    return "sha256:" + base64.b64decode(sha).hex()


def need(n, names):
    if len(ARGS) < n:
        usage(f"{WHAT} expects {names}")


# ---- commands ----

def image_function():
    need(2, "NAME ALIAS [REPO]")
    name, alias = ARGS[0], ARGS[1]
    repo = ARGS[2] if len(ARGS) > 2 else name
    arn = role_arn()
    uri = repository(repo)
    digests = put_images(repo)
    lam = client("lambda")
    fn = lam.create_function(FunctionName=name, Role=arn, PackageType="Image",
                             Code={"ImageUri": f"{uri}@{digests[0]}"}, Publish=False)
    wait_updated(lam, name)
    v = publish_checked(lam, name, digests[0].removeprefix("sha256:"))
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v["Version"])
    return {"function_arn": fn["FunctionArn"], "repository_uri": uri, "digests": digests,
            "versions": [v["Version"]], "alias": alias}


def zip_function():
    need(2, "NAME ALIAS")
    name, alias = ARGS[0], ARGS[1]
    arn = role_arn()
    packages = [package_json(1), package_json(2)]
    lam = client("lambda")
    fn = lam.create_function(FunctionName=name, Role=arn, Runtime="python3.12",
                             Handler="handler.handler", Code={"ZipFile": zip_package(1)},
                             Publish=False)
    if fn["CodeSha256"] != packages[0]["code_sha256"]:
        fail(f"created with CodeSha256 {fn['CodeSha256']}, expected {packages[0]['code_sha256']}")
    wait_updated(lam, name)
    v = publish_checked(lam, name, packages[0]["sha256"])
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v["Version"])
    return {"function_arn": fn["FunctionArn"], "packages": packages,
            "digests": [p["digest"] for p in packages], "versions": [v["Version"]],
            "alias": alias}


def zip_functions():
    need(3, "PREFIX COUNT ALIAS [THREADS]")
    prefix, alias = ARGS[0], ARGS[2]
    try:
        count, threads = int(ARGS[1]), int(ARGS[3]) if len(ARGS) > 3 else 8
    except ValueError:
        usage("zip-functions: COUNT and THREADS are numbers")
    import concurrent.futures
    arn, package = role_arn(), package_json(1)

    def one(i):
        lam = client("lambda")
        name = f"{prefix}-{i}"
        try:
            lam.create_function(FunctionName=name, Role=arn, Runtime="python3.12",
                                Handler="handler.handler", Code={"ZipFile": zip_package(1)},
                                Publish=False)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceConflictException":
                raise
            return 0
        v = publish_checked(lam, name, package["sha256"])
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=v["Version"])
        return 1

    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        created = sum(pool.map(one, range(1, count + 1)))
    return {"functions": count, "alias": alias, "digest": package["digest"], "created": created}


def publish():
    need(1, "NAME [CODE_SHA256]")
    name = ARGS[0]
    lam = client("lambda")
    got = lam.get_function(FunctionName=name)
    image = got["Configuration"].get("PackageType") == "Image"
    want = image_digest(2) if image else package_json(2)["digest"]
    # Only when $LATEST holds something else: moto counts any UpdateFunctionCode
    # as a change and would publish a new version of the same code.
    if digest_of(got["Configuration"]) != want:
        if image:
            repo_uri = got["Code"]["ImageUri"].split("@")[0]
            lam.update_function_code(FunctionName=name, ImageUri=f"{repo_uri}@{want}")
        else:
            lam.update_function_code(FunctionName=name, ZipFile=zip_package(2))
        wait_updated(lam, name)
    v = publish_checked(lam, name, want.removeprefix("sha256:"),
                        ARGS[1] if len(ARGS) > 1 else None)
    return {"version": v["Version"], "code_sha256": v["CodeSha256"], "digest": digest_of(v)}


def alias():
    need(2, "NAME ALIAS")
    return alias_json(client("lambda"), ARGS[0], ARGS[1])


def function():
    need(1, "NAME [QUALIFIER]")
    lam = client("lambda")
    kw = {"FunctionName": ARGS[0]}
    if len(ARGS) > 1:
        kw["Qualifier"] = ARGS[1]
    c = lam.get_function_configuration(**kw)
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=ARGS[0])["Versions"]]
    return {"Version": c["Version"], "CodeSha256": c["CodeSha256"],
            "PackageType": c.get("PackageType"), "digest": digest_of(c), "versions": versions}


def set_alias():
    need(3, "NAME ALIAS VERSION [WEIGHT_VERSION WEIGHT]")
    name, al, version = ARGS[0], ARGS[1], ARGS[2]
    weights = {}
    if len(ARGS) == 5:
        try:
            weights = {ARGS[3]: float(ARGS[4])}
        except ValueError:
            usage(f"set-alias: WEIGHT {ARGS[4]!r} is not a number")
    elif len(ARGS) != 3:
        usage("set-alias expects NAME ALIAS VERSION [WEIGHT_VERSION WEIGHT]")
    lam = client("lambda")
    lam.update_alias(FunctionName=name, Name=al, FunctionVersion=version,
                     RoutingConfig={"AdditionalVersionWeights": weights})
    return alias_json(lam, name, al)


def codedeploy():
    need(2, "NAME ALIAS [CURRENT TARGET]")
    name, al = ARGS[0], ARGS[1]
    lam = client("lambda")
    if len(ARGS) >= 4:
        current, target = ARGS[2], ARGS[3]
    else:
        current = lam.get_alias(FunctionName=name, Name=al)["FunctionVersion"]
        numbered = [int(v["Version"]) for v in
                    lam.list_versions_by_function(FunctionName=name)["Versions"]
                    if v["Version"] != "$LATEST"]
        target = str(max(numbered)) if numbered else current
    app, group = f"{name}-app", f"{name}-{al}"
    cd = client("codedeploy")
    already(lambda: cd.create_application(applicationName=app, computePlatform="Lambda"),
            "ApplicationAlreadyExistsException")
    already(lambda: cd.create_deployment_group(
        applicationName=app, deploymentGroupName=group, serviceRoleArn=role_arn(),
        deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        deploymentStyle={"deploymentType": "BLUE_GREEN",
                         "deploymentOption": "WITH_TRAFFIC_CONTROL"}),
        "DeploymentGroupAlreadyExistsException")
    appspec = json.dumps({"version": 0.0, "Resources": [{name: {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Name": name, "Alias": al,
                       "CurrentVersion": current, "TargetVersion": target}}}]})
    dep = cd.create_deployment(
        applicationName=app, deploymentGroupName=group,
        revision={"revisionType": "AppSpecContent",
                  "appSpecContent": {"content": appspec,
                                     "sha256": hashlib.sha256(appspec.encode()).hexdigest()}},
    )["deploymentId"]
    status = cd.get_deployment(deploymentId=dep)["deploymentInfo"].get("status")
    return {"application": app, "deployment_group": group, "deployment_id": dep,
            "status": status, "appspec": json.loads(appspec)}


def user_with(iam, user, statements):
    try:
        iam.create_user(UserName=user)
    except ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"user": user, "arn": iam.get_user(UserName=user)["User"]["Arn"],
            "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def restricted_user():
    user = ARGS[0] if ARGS else "shipdeck-readonly"
    return user_with(client("iam"), user, [{
        "Effect": "Allow",
        "Action": ["lambda:Get*", "lambda:List*", "sts:GetCallerIdentity"],
        "Resource": "*",
    }])


def user():
    need(1, "NAME")
    return user_with(client("iam"), ARGS[0], [{"Effect": "Allow", "Action": "*", "Resource": "*"}])


def enforce_iam():
    count = ARGS[0] if ARGS else "0"
    # Not as a form (urllib's default Content-Type): moto reads the raw body,
    # which Flask leaves empty for a form, and answers 500.
    req = urllib.request.Request(f"{URL.rstrip('/')}/moto-api/reset-auth",
                                 data=count.encode(), method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


COMMANDS = {
    "image-function": image_function, "zip-function": zip_function, "publish": publish,
    "zip-functions": zip_functions,
    "alias": alias, "function": function, "set-alias": set_alias, "codedeploy": codedeploy,
    "restricted-user": restricted_user, "user": user, "enforce-iam": enforce_iam,
}

if WHAT not in COMMANDS:
    usage(f"unknown command {WHAT!r}")
try:
    result = COMMANDS[WHAT]()
except ClientError as e:
    err = e.response.get("Error", {})
    code, message = err.get("Code"), err.get("Message") or ""
    # moto answers IAM refusals of REST services (Lambda, ECR) as IAM's XML,
    # which botocore leaves whole in Message under the HTTP status as Code.
    xml = re.search(r"<Code>(.*?)</Code><Message>(.*?)</Message>", message, re.S)
    if xml:
        code, message = xml.group(1), xml.group(2)
    fail(f"{e.operation_name}: {code}: {message} "
         f"(HTTP {e.response.get('ResponseMetadata', {}).get('HTTPStatusCode')})")
except (BotoCoreError, OSError, RuntimeError) as e:
    fail(f"{type(e).__name__}: {e}")
print(json.dumps(result))
