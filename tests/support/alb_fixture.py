"""An ALB with a weighted forward rule on moto, for the ALB blue/green tests.

  alb_fixture.py URL create          -> {"rule": ..., "blue": ..., "green": ...}
  alb_fixture.py URL weights RULE    -> {"<target group arn>": weight, ...}
  alb_fixture.py URL whole RULE TG   -> TG weighted 100, the other 0 (a hand switch)
  alb_fixture.py URL delete RULE     -> deletes the rule
"""
import json
import sys

import boto3

url, what = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=url, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
elb = boto3.client("elbv2", **kw)

if what == "create":
    ec2 = boto3.client("ec2", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                          AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]
    tgs = {
        colour: elb.create_target_group(Name=f"api-{colour}", Protocol="HTTP", Port=80,
                                        VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        for colour in ("blue", "green")
    }
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response",
                         "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]
    rule = elb.create_rule(
        ListenerArn=listener["ListenerArn"], Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs["blue"], "Weight": 100},
            {"TargetGroupArn": tgs["green"], "Weight": 0},
        ]}}],
    )["Rules"][0]
    print(json.dumps({"rule": rule["RuleArn"], **tgs}))
elif what == "weights":
    rule = elb.describe_rules(RuleArns=[sys.argv[3]])["Rules"][0]
    fwd = [a for a in rule["Actions"] if a["Type"] == "forward"][0]
    print(json.dumps({t["TargetGroupArn"]: t.get("Weight")
                      for t in fwd["ForwardConfig"]["TargetGroups"]}))
elif what == "whole":
    # A hand switch: all traffic to one target group, in one ModifyRule.
    rule, whole = sys.argv[3], sys.argv[4]
    fwd = [a for a in elb.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
           if a["Type"] == "forward"][0]
    groups = [{"TargetGroupArn": t["TargetGroupArn"],
               "Weight": 100 if t["TargetGroupArn"] == whole else 0}
              for t in fwd["ForwardConfig"]["TargetGroups"]]
    elb.modify_rule(RuleArn=rule, Actions=[{"Type": "forward",
                                            "ForwardConfig": {"TargetGroups": groups}}])
    print("{}")
elif what == "delete":
    elb.delete_rule(RuleArn=sys.argv[3])
