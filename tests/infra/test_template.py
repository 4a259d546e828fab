"""Offline checks of infra/: the SAM template, as written and as CloudFormation after the SAM
transform, and the two state machine definitions, read and run in moto's Step Functions engine.

Run from the repository root, on a venv with tests/infra/requirements.txt:

    .venv/bin/python -m unittest discover -s tests/infra

Nothing here reaches the network: the SAM transform runs in-process (aws-sam-translator, with a
fixed region and no credentials), cfn-lint uses its bundled schemas, and moto runs the
definitions in-process. FAUNA_LOGS_EXPORT_ROOT points the checks at another checkout (a
directory with infra/ and docs/), e.g. the tree before a fix, to see them fail there.

Each class pins one finding of the infra review (docs/runbook.md and docs/backfill.md say why).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import logging
import os
import re
import time
import unittest
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("FAUNA_LOGS_EXPORT_ROOT", HERE.parents[1])).resolve()
INFRA = ROOT / "infra"
DOCS = ROOT / "docs"
TEMPLATE = INFRA / "template.yaml"

ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:not-deployed"
REGION_GROUPS = ["us-std", "eu-std", "classic"]  # the function's default FAUNA_REGION_GROUPS
MAX_CONCURRENCY = 64  # the CLI's --concurrency cap (docs/backfill.md)

# Every top-level property named "...Name" is either a physical name (two stacks in one account
# and region collide on it unless it is stack-unique) or known not to be one.
PHYSICAL_NAMES = {
    "Name", "FunctionName", "StateMachineName", "TopicName", "AlarmName", "LogGroupName",
    "RoleName", "QueueName", "BucketName", "ManagedPolicyName", "AliasName", "TableName",
    "ScheduleName", "RuleName", "EventBusName", "SecretName", "KeyName",
}
NOT_PHYSICAL_NAMES = {"MetricName", "DisplayName"}
# Properties that name something else (the Glue database a table is in: its own name is
# checked by Item9QueryYourLogs), or that label and need not be unique (a saved query).
REFERENCES_A_NAME = {"DatabaseName"}
NOT_PHYSICAL_NAMES_OF = {"AWS::Athena::NamedQuery": {"Name"}}


# ---------------------------------------------------------------------------------------------
# The template: as written, transformed, and evaluated for a set of parameter values
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def policy() -> dict:
    """The retry decision, as data: tests/infra/retry_policy.json."""
    return json.loads((HERE / "retry_policy.json").read_text())


@functools.lru_cache(maxsize=None)
def sam_template() -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


@functools.lru_cache(maxsize=None)
def cfn_template() -> dict:
    """infra/template.yaml after the SAM transform, as CloudFormation would get it from `sam
    deploy`: the code and definitions are local paths there, so they are given as `sam package`
    would (code at an S3 URI; the definitions inline, as read from infra/)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(sam_template())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://deployment-bucket/fauna-logs-export.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((INFRA / props.pop("DefinitionUri")).read_text())
    # A session with a region and nothing else: the translator reads the region and partition.
    session = boto3.session.Session(region_name=REGION)
    return Translator({}, Parser(), boto_session=session).translate(template, {})


NO_VALUE = object()


def stack_id(stack_name: str) -> str:
    """A stack's ID as CloudFormation writes it: its name, then a UUID (lower-case hex)."""
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{stack_uuid(stack_name)}"


def stack_uuid(stack_name: str) -> str:
    """The UUID that ends the ID of the stack named `stack_name` here."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, stack_name))


class Stack:
    """The transformed template evaluated for one set of parameter values and one stack name:
    conditions, intrinsic functions, Rules, parameter constraints. A resource's physical ID is
    "<LogicalId>", an attribute "<LogicalId.Attr>"."""

    def __init__(self, params: dict | None = None, stack_name: str = "fauna-logs-export"):
        self.cfn = cfn_template()
        declared = self.cfn.get("Parameters", {})
        unknown = set(params or {}) - set(declared)
        if unknown:
            raise AssertionError(f"the template has no parameters {sorted(unknown)}")
        self.params = {n: str(p.get("Default", "")) for n, p in declared.items()}
        self.params.update({k: str(v) for k, v in (params or {}).items()})
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": stack_id(stack_name),
            "AWS::NoValue": NO_VALUE,
        }
        self._conditions: dict[str, bool] = {}

    # -- intrinsic functions --------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.cfn["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str):
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.cfn["Resources"]:
            return f"<{name}>"
        raise KeyError(f"Ref to unknown {name}")

    def sub(self, text: str, variables: dict):
        def one(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".")[0] in self.cfn["Resources"]:
                return f"<{name}>"
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if fn == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{logical}.{attr}>"
            if fn == "Fn::Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.resolve(items))
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if fn == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if fn == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if fn == "Fn::Contains":
                values, value = arg
                return str(self.resolve(value)) in [str(v) for v in self.resolve(values)]
            if fn.startswith("Fn::"):
                raise NotImplementedError(fn)
        out = {}
        for key, value in node.items():
            value = self.resolve(value)
            if value is not NO_VALUE:
                out[key] = value
        return out

    # -- resources ------------------------------------------------------------------------

    def resources(self, type_: str | None = None) -> dict:
        """The resources the stack creates (their Condition holds), properties resolved."""
        out = {}
        for name, resource in self.cfn["Resources"].items():
            if type_ and resource["Type"] != type_:
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[name] = self.resolve(resource.get("Properties", {}))
        return out

    def resource(self, name: str) -> dict | None:
        return self.resources().get(name)

    def role_statements(self, role: str) -> list[dict]:
        statements = []
        for policy in self.resource(role).get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
        return statements

    # -- what CloudFormation refuses ------------------------------------------------------

    def parameter_errors(self) -> list[str]:
        errors = []
        for name, spec in self.cfn.get("Parameters", {}).items():
            errors += [f"{name}={self.params[name]!r}: {e}" for e in parameter_errors(spec, self.params[name])]
        return errors

    def rule_errors(self) -> list[str]:
        errors = []
        for name, rule in self.cfn.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.resolve(assertion["Assert"]):
                    errors.append(f"{name}: {assertion.get('AssertDescription', '')}")
        return errors

    def refused(self) -> list[str]:
        return self.parameter_errors() + self.rule_errors()


def parameter_errors(spec: dict, value: str) -> list[str]:
    """What CloudFormation checks of one parameter value: AllowedValues, AllowedPattern (a full
    match), MinLength/MaxLength, MinValue/MaxValue."""
    errors = []
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        errors.append("not in AllowedValues")
    if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], value) is None:
        errors.append(f"does not match {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        errors.append("shorter than MinLength")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        errors.append("longer than MaxLength")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return errors + ["not a number"]
        if "MinValue" in spec and number < float(spec["MinValue"]):
            errors.append("below MinValue")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            errors.append("above MaxValue")
    return errors


def refs(node) -> set[str]:
    """Logical IDs a node names with Ref or GetAtt."""
    found = set()
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            found.add(node["Ref"])
        elif set(node) == {"Fn::GetAtt"}:
            arg = node["Fn::GetAtt"]
            found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
        else:
            for value in node.values():
                found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------
# The state machines
# ---------------------------------------------------------------------------------------------


def definition(file: str) -> dict:
    """infra/<file> with the function's ARN substituted, as the stack deploys it."""
    return json.loads((INFRA / file).read_text().replace("${ExportFunctionArn}", FUNCTION_ARN))


def lambda_tasks(states: dict, prefix: str = ""):
    """(name, state) of every lambda:invoke Task, item processors included."""
    for name, state in states.items():
        if state.get("Type") == "Task" and state.get("Resource") == "arn:aws:states:::lambda:invoke":
            yield prefix + name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from lambda_tasks(processor["States"], f"{prefix}{name}/")


class StepFunctionsEngine:
    """moto's Step Functions engine (it vendors LocalStack's ASL interpreter, as the Rust tests'
    moto server does), in-process. Its Lambda has no functions: a task that invokes one fails
    with Lambda.ResourceNotFoundException, which exercises Retry and Catch."""

    def __enter__(self):
        from moto import mock_aws

        logging.getLogger("moto").setLevel(logging.CRITICAL)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        import boto3

        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self._count = 0
        return self

    def __exit__(self, *exc):
        self._mock.stop()

    def run(self, asl: dict, execution_input: dict, start_at: str | None = None) -> tuple[dict, list[dict]]:
        """Runs `asl` (from `start_at`, if given) to its end: the execution's description and
        history."""
        asl = dict(asl)
        if start_at:
            asl["StartAt"] = start_at
        self._count += 1
        machine = self.sfn.create_state_machine(
            name=f"machine-{self._count}",
            definition=json.dumps(asl),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/test",
        )["stateMachineArn"]
        execution = self.sfn.start_execution(
            stateMachineArn=machine, name="run", input=json.dumps(execution_input)
        )["executionArn"]
        deadline = time.monotonic() + 60
        while True:
            described = self.sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the execution did not end: {described}")
            time.sleep(0.05)
        events = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return described, events


def item_processor(backfill: dict) -> dict:
    processor = backfill["States"]["ExportEach"]["ItemProcessor"]
    return {"StartAt": processor["StartAt"], "States": processor["States"]}


FAILED_JOB = {
    "step": "failed",
    "database": "us-std/ECommerce",
    "time_start": "2026-11-24T00:00:00Z",
    "time_end": "2026-11-25T00:00:00Z",
    "key": "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz",
    "attempt": 3,
    "polls": 2,
    "wait_seconds": 0,
    "error": {"error_type": "ExportFailed", "message": "Fauna could not produce the logs"},
}


def object_key_prefix(prefix: str) -> str:
    """What the function puts before `region_group=` in every object key: crates/core/src/job.rs object_key
    trims '/' from LOGS_PREFIX and joins it with '/'; an empty prefix adds nothing."""
    trimmed = prefix.strip("/")
    return f"{trimmed}/" if trimmed else ""


# =============================================================================================
# The checks
# =============================================================================================


class TemplateIsValid(unittest.TestCase):
    def test_sam_transform_runs_offline(self):
        cfn = cfn_template()
        self.assertNotIn("Transform", cfn)
        types = {r["Type"] for r in cfn["Resources"].values()}
        self.assertFalse([t for t in types if t.startswith("AWS::Serverless::")], types)

    def test_cfn_lint_is_clean(self):
        from cfnlint.api import lint_file

        matches = lint_file(TEMPLATE)
        self.assertEqual([], [str(m) for m in matches])

    def test_deploys_with_the_defaults(self):
        self.assertEqual([], Stack().refused())


class Item1AlarmTopics(unittest.TestCase):
    """CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns (its
    key policy cannot grant cloudwatch.amazonaws.com)."""

    def alarm_topics(self, stack: Stack) -> set[str]:
        topics = set()
        for alarm in stack.resources("AWS::CloudWatch::Alarm").values():
            for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in alarm.get(field, []):
                    name = str(action).strip("<>")
                    if stack.cfn["Resources"].get(name, {}).get("Type") == "AWS::SNS::Topic":
                        topics.add(name)
        return topics

    def test_no_alarm_topic_is_under_the_aws_managed_key(self):
        for params in ({}, {"AlarmEmail": "ops@example.com"}):
            stack = Stack(params)
            topics = self.alarm_topics(stack)
            self.assertTrue(topics, "the alarms publish to a topic")
            for topic in topics:
                raw = stack.cfn["Resources"][topic]["Properties"].get("KmsMasterKeyId")
                if raw is None:
                    continue  # unencrypted: nothing stops CloudWatch
                self.assertNotIn("alias/aws/", json.dumps(raw), f"{topic} is under an AWS managed key")
                keys = refs(raw)
                self.assertEqual(1, len(keys), f"{topic}'s key must be one of this template, so its policy is known: {raw}")
                key = keys.pop()
                self.assertEqual("AWS::KMS::Key", stack.cfn["Resources"][key]["Type"])
                props = stack.resource(key)
                self.assertTrue(props.get("EnableKeyRotation"), f"{key} rotates")
                grants = [
                    s for s in props["KeyPolicy"]["Statement"]
                    if s["Effect"] == "Allow"
                    and "cloudwatch.amazonaws.com" in as_list(s.get("Principal", {}).get("Service", []))
                ]
                self.assertTrue(grants, f"{key}'s policy grants cloudwatch.amazonaws.com")
                actions = {a for s in grants for a in as_list(s["Action"])}
                self.assertIn("kms:Decrypt", actions)
                self.assertTrue({"kms:GenerateDataKey*", "kms:GenerateDataKey"} & actions, actions)
                denies = [s for s in props["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
                self.assertEqual([], denies)


class Item2PhysicalNames(unittest.TestCase):
    """Two stacks from this template in one account and region: every physical name is
    stack-unique or left to CloudFormation."""

    def test_every_physical_name_is_stack_unique_or_absent(self):
        params = {"AlarmEmail": "ops@example.com", "LogsKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", "ReservedConcurrency": "66"}
        params = {k: v for k, v in params.items() if k in cfn_template()["Parameters"]}
        a = Stack(params, stack_name="StackA")
        b = Stack(params, stack_name="StackB")
        checked = 0
        for name, resource in cfn_template()["Resources"].items():
            for prop in resource.get("Properties", {}):
                if not prop.endswith("Name") or prop in NOT_PHYSICAL_NAMES | REFERENCES_A_NAME:
                    continue
                if prop in NOT_PHYSICAL_NAMES_OF.get(resource["Type"], set()):
                    continue
                self.assertIn(prop, PHYSICAL_NAMES, f"{name}.{prop}: is it a physical name? classify it")
                in_a, in_b = a.resource(name)[prop], b.resource(name)[prop]
                self.assertNotEqual(in_a, in_b, f"{name}.{prop} is {in_a!r} in every stack")
                self.assertTrue("StackA" in in_a or stack_uuid("StackA") in in_a, f"{name}.{prop} carries the stack's name or ID")
                checked += 1
        self.assertGreater(checked, 0)

    def test_the_schedule_is_named_by_cloudformation(self):
        for name, schedule in Stack().resources("AWS::Scheduler::Schedule").items():
            self.assertNotIn("Name", schedule, f"{name}: SAM named it after the event")


class Item3Parameters(unittest.TestCase):
    """Parameters that cannot break the stack: tight patterns (full-match, in the regex subset
    Java and Python read alike), and Rules for combinations that make no sense."""

    maxDiff = None

    # (parameter, value, accepted)
    TABLE = [
        ("LogsPrefix", "fauna-logs", True),
        ("LogsPrefix", "exports/fauna", True),
        ("LogsPrefix", "a", True),
        ("LogsPrefix", "A_b-c.d", True),
        ("LogsPrefix", "a/b/c", True),
        ("LogsPrefix", "logs.v2/2026", True),
        ("LogsPrefix", "x" * 200, True),
        ("LogsPrefix", "", False),
        ("LogsPrefix", "/", False),
        ("LogsPrefix", "/fauna-logs", False),
        ("LogsPrefix", "fauna-logs/", False),
        ("LogsPrefix", "/fauna-logs/", False),
        ("LogsPrefix", "a//b", False),
        ("LogsPrefix", ".", False),
        ("LogsPrefix", "..", False),
        ("LogsPrefix", "a/../b", False),
        ("LogsPrefix", "a/./b", False),
        ("LogsPrefix", ".hidden", False),
        ("LogsPrefix", "a b", False),
        ("LogsPrefix", "fauna-logs\n", False),
        ("LogsPrefix", "a*", False),
        ("LogsPrefix", "env=prod", False),
        ("LogsPrefix", "exporté", False),
        ("LogsPrefix", "x" * 201, False),
        ("ScopeValue", "us-std/ECommerce", True),
        ("ScopeValue", "us-std", True),
        ("ScopeValue", "eu-std", True),
        ("ScopeValue", "classic", True),
        ("ScopeValue", "us-std/production/customers_2-b", True),
        ("ScopeValue", "", False),
        ("ScopeValue", "us-std/", False),
        ("ScopeValue", "/us-std/ECommerce", False),
        ("ScopeValue", "us-std//ECommerce", False),
        ("ScopeValue", "xx-std/ECommerce", False),
        ("ScopeValue", 'us-std/Ship"ments', False),
        ("ScopeValue", "us-std/Ship ments", False),
        ("ScopeValue", "US-STD/ECommerce", False),
        ("ScopeValue", "us-std/ECommerce\n", False),
        ("ScheduleExpression", "cron(0 1 * * ? *)", True),
        ("ScheduleExpression", "cron(59 23 * * ? *)", True),
        ("ScheduleExpression", "cron(0 * * * ? *)", True),
        ("ScheduleExpression", "cron(30 * * * ? *)", True),
        ("ScheduleExpression", "rate(1 hour)", True),
        ("ScheduleExpression", "rate(1 day)", True),
        ("ScheduleExpression", "", False),
        ("ScheduleExpression", "cron(60 1 * * ? *)", False),
        ("ScheduleExpression", "cron(0 24 * * ? *)", False),
        ("ScheduleExpression", "cron(00 1 * * ? *)", False),
        ("ScheduleExpression", "cron(0 1 ? * MON-FRI *)", False),
        ("ScheduleExpression", "cron(0 */2 * * ? *)", False),
        ("ScheduleExpression", "rate(5 minutes)", False),
        ("ScheduleExpression", "rate(2 hours)", False),
        ("ScheduleExpression", "at(2026-11-25T01:00:00)", False),
        ("LagMinutes", "15", True),
        ("LagMinutes", "60", True),
        ("LagMinutes", "10080", True),
        ("LagMinutes", "0", False),
        ("LagMinutes", "14", False),
        ("LagMinutes", "10081", False),
        ("ExistingBucketName", "", True),
        ("ExistingBucketName", "my-logs", True),
        ("ExistingBucketName", "logs.example-1", True),
        ("ExistingBucketName", "b" * 63, True),
        ("ExistingBucketName", "ab", False),
        ("ExistingBucketName", "My-Logs", False),
        ("ExistingBucketName", "-logs", False),
        ("ExistingBucketName", "logs-", False),
        ("ExistingBucketName", "b" * 64, False),
        ("ExistingBucketName", "logs/fauna", False),
        ("ExistingBucketOwner", "", True),
        ("ExistingBucketOwner", "111122223333", True),
        ("ExistingBucketOwner", "11112222333", False),
        ("ExistingBucketOwner", "11112222333a", False),
        ("LogsKmsKeyArn", "", True),
        ("LogsKmsKeyArn", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        ("LogsKmsKeyArn", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("LogsKmsKeyArn", "alias/aws/s3", False),
        ("LogsKmsKeyArn", "arn:aws:kms:us-east-1:111122223333:alias/logs", False),
        ("LogsKmsKeyArn", "1234abcd-12ab-34cd-56ef-1234567890ab", False),
        ("ReservedConcurrency", "", True),
        ("ReservedConcurrency", "1", True),
        ("ReservedConcurrency", "66", True),
        ("ReservedConcurrency", "9999", True),
        ("ReservedConcurrency", "0", False),
        ("ReservedConcurrency", "-1", False),
        ("ReservedConcurrency", "066", False),
        ("ReservedConcurrency", "10000", False),
        ("FaunaAccountUrl", "https://account.fauna.com", True),
        ("FaunaAccountUrl", "https://localhost:8443/api", True),
        ("FaunaAccountUrl", "http://account.fauna.com", False),
        ("FaunaAccountUrl", "https://account.fauna.com/\"", False),
        ("AlarmEmail", "", True),
        ("AlarmEmail", "ops@example.com", True),
        ("AlarmEmail", "ops", False),
        ("AlarmEmail", "o ps@example.com", False),
        ("AthenaDatabaseName", "", True),
        ("AthenaDatabaseName", "team_logs", True),
        ("AthenaDatabaseName", "l" * 255, True),
        ("AthenaDatabaseName", "Team_Logs", False),
        ("AthenaDatabaseName", "team-logs", False),
        ("AthenaDatabaseName", "1logs", False),
        ("AthenaDatabaseName", "_logs", False),
        ("AthenaDatabaseName", "l" * 256, False),
    ]

    # Whole stacks: (parameters besides the defaults, deployable)
    COMBINATIONS = [
        ({}, True),
        ({"Granularity": "hour"}, False),  # the daily default schedule: 1 hour in 24
        ({"Granularity": "hour", "ScheduleExpression": "cron(5 * * * ? *)"}, True),
        ({"Granularity": "hour", "ScheduleExpression": "rate(1 hour)"}, True),
        ({"Granularity": "day", "ScheduleExpression": "cron(0 * * * ? *)"}, False),
        ({"Granularity": "day", "ScheduleExpression": "rate(1 hour)"}, False),
        ({"Granularity": "day", "ScheduleExpression": "rate(1 day)"}, True),
        ({"Granularity": "day", "ScheduleExpression": "cron(30 2 * * ? *)"}, True),
        ({"ScopeField": "region_group"}, False),  # the default ScopeValue is a database path
        ({"ScopeField": "region_group", "ScopeValue": "us-std"}, True),
        ({"ScopeField": "region_group", "ScopeValue": "eu-std/Orders"}, False),
        ({"ScopeField": "database", "ScopeValue": "us-std"}, False),
        ({"ScopeField": "database", "ScopeValue": "classic/Legacy"}, True),
        ({"LagMinutes": "0"}, False),
        ({"LogsPrefix": "/fauna-logs"}, False),
        ({"ExistingBucketOwner": "111122223333"}, False),  # the stack's own bucket
        ({"ExistingBucketName": "team-logs", "ExistingBucketOwner": "111122223333"}, True),
        ({"ExistingBucketName": "team-logs"}, True),
    ]

    JAVA_PYTHON_DIFFERENCES = [
        r"\d", r"\w", r"\s", r"\b", r"\B", r"\A", r"\Z", r"\z", r"\G", r"\p", r"\P", r"\h", r"\R",
        r"\Q", r"\E", r"\x", r"\u", "(?", "[[", "&&", "*+", "++", "?+", "}+", "[:",
    ]

    def parameters(self) -> dict:
        return cfn_template()["Parameters"]

    def test_patterns_accept_and_refuse_as_the_table_says(self):
        wrong = []
        for name, value, accepted in self.TABLE:
            spec = self.parameters().get(name)
            if spec is None:
                wrong.append(f"{name}: no such parameter")
                continue
            errors = parameter_errors(spec, value)
            if (not errors) != accepted:
                wrong.append(f"{name}={value!r}: {'refused' if errors else 'accepted'}, should be {'accepted' if accepted else 'refused'}")
        self.assertEqual([], wrong)

    def test_every_free_text_parameter_has_a_pattern(self):
        for name, spec in self.parameters().items():
            if spec["Type"] == "String" and "AllowedValues" not in spec and not spec.get("NoEcho"):
                self.assertIn("AllowedPattern", spec, name)

    def test_patterns_use_only_what_java_and_python_read_alike(self):
        for name, spec in self.parameters().items():
            pattern = spec.get("AllowedPattern")
            if pattern is None:
                continue
            re.compile(pattern)
            for construct in self.JAVA_PYTHON_DIFFERENCES:
                self.assertNotIn(construct, pattern, f"{name}: {construct} differs between Java and Python")
            self.assertTrue(pattern.startswith("^") and pattern.endswith("$"), name)

    def test_rules_refuse_the_combinations_that_make_no_sense(self):
        wrong = []
        for params, deployable in self.COMBINATIONS:
            try:
                refused = Stack(params).refused()
            except AssertionError as missing:
                wrong.append(f"{params}: {missing}")
                continue
            if (not refused) != deployable:
                wrong.append(f"{params}: {'refused ' + str(refused) if refused else 'accepted'}")
        self.assertEqual([], wrong)

    def test_hourly_rules_list_every_hourly_expression(self):
        """The Rules' list of hourly expressions is every one the pattern lets through."""
        self.assertIn("AllowedPattern", self.parameters()["ScheduleExpression"])
        pattern = self.parameters()["ScheduleExpression"]["AllowedPattern"]
        hourly = ["rate(1 hour)"] + [f"cron({m} * * * ? *)" for m in range(60)]
        for expression in hourly:
            self.assertIsNotNone(re.fullmatch(pattern, expression), expression)
            self.assertEqual([], Stack({"Granularity": "hour", "ScheduleExpression": expression}).refused())
            self.assertTrue(Stack({"Granularity": "day", "ScheduleExpression": expression}).rule_errors())
        for hour in range(24):
            daily = f"cron(0 {hour} * * ? *)"
            self.assertEqual([], Stack({"ScheduleExpression": daily}).refused())
            self.assertTrue(Stack({"Granularity": "hour", "ScheduleExpression": daily}).rule_errors())

    def test_the_s3_grant_names_the_prefix_the_function_writes_under(self):
        """For every prefix the template accepts, the role's object grant is exactly
        bucket/<the prefix the function's object keys start with>*."""
        accepted = [v for n, v, ok in self.TABLE if n == "LogsPrefix" and not parameter_errors(self.parameters()["LogsPrefix"], v)]
        # and whatever else the old pattern let through
        accepted += [v for v in ("/fauna-logs", "fauna-logs/", "a//b", "/") if not parameter_errors(self.parameters()["LogsPrefix"], v)]
        self.assertIn("fauna-logs", accepted)
        for prefix in accepted:
            stack = Stack({"LogsPrefix": prefix})
            grants = [
                s for s in stack.role_statements("ExportFunctionRole")
                if "s3:PutObject" in as_list(s["Action"])
            ]
            self.assertEqual(1, len(grants))
            self.assertEqual(
                [f"arn:aws:s3:::<LogsBucket>/{object_key_prefix(prefix)}*"],
                as_list(grants[0]["Resource"]),
                f"LogsPrefix={prefix!r}",
            )
            env = stack.resource("ExportFunction")["Environment"]["Variables"]
            self.assertEqual(prefix, env["LOGS_PREFIX"])

    def test_the_schedule_input_is_json_for_every_accepted_scope(self):
        """ScopeValue goes into the schedule's JSON input as written: whatever the stack accepts
        must keep it JSON, with the scope as given."""
        for params in [{"ScopeValue": v} for n, v, ok in self.TABLE if n == "ScopeValue"] + [
            {"ScopeField": "region_group", "ScopeValue": g} for g in REGION_GROUPS
        ]:
            stack = Stack(params)
            if stack.refused():
                continue
            for schedule in stack.resources("AWS::Scheduler::Schedule").values():
                try:
                    scheduled = json.loads(schedule["Target"]["Input"])
                except json.JSONDecodeError as e:
                    self.fail(f"{params}: the schedule input is not JSON ({e}): {schedule['Target']['Input']}")
                field = stack.params["ScopeField"]
                self.assertEqual(stack.params["ScopeValue"], scheduled[field], params)

    def test_scope_rules_and_pattern_know_the_same_region_groups(self):
        self.assertIn("AllowedPattern", self.parameters()["ScopeValue"])
        pattern = self.parameters()["ScopeValue"]["AllowedPattern"]
        for group in REGION_GROUPS:
            self.assertIsNotNone(re.fullmatch(pattern, group))
            self.assertIsNotNone(re.fullmatch(pattern, f"{group}/Db"))
            self.assertEqual([], Stack({"ScopeField": "region_group", "ScopeValue": group}).refused())
            self.assertTrue(Stack({"ScopeField": "database", "ScopeValue": group}).refused())


class Item4ScheduleDeadLetters(unittest.TestCase):
    """A scheduled run that EventBridge Scheduler cannot start lands in an encrypted dead-letter
    queue the schedule may send to, and an alarm on that queue tells someone."""

    def test_every_schedule_has_an_encrypted_dead_letter_queue_and_an_alarm(self):
        stack = Stack()
        schedules = stack.resources("AWS::Scheduler::Schedule")
        self.assertTrue(schedules)
        for name, schedule in schedules.items():
            target = schedule["Target"]
            self.assertIn("DeadLetterConfig", target, f"{name} has no dead-letter queue")
            queue = target["DeadLetterConfig"]["Arn"].strip("<>").split(".")[0]
            self.assertEqual("AWS::SQS::Queue", stack.cfn["Resources"][queue]["Type"])
            props = stack.resource(queue)
            self.assertFalse(props.get("FifoQueue"), "Scheduler takes standard queues only")
            self.assertTrue(props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), f"{queue} is encrypted")
            self.assertNotIn("alias/aws/", json.dumps(props.get("KmsMasterKeyId", "")))
            # The schedule's role may send to that queue, and to nothing else.
            role = target["RoleArn"].strip("<>").split(".")[0]
            sends = [s for s in stack.role_statements(role) if "sqs:SendMessage" in as_list(s["Action"])]
            self.assertEqual(1, len(sends), sends)
            self.assertEqual([f"<{queue}.Arn>"], as_list(sends[0]["Resource"]))
            self.assertEqual(["sqs:SendMessage"], as_list(sends[0]["Action"]))
            # Someone hears of a message there.
            alarms = [
                a for a in stack.resources("AWS::CloudWatch::Alarm").values()
                if a.get("Namespace") == "AWS/SQS"
                and a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
                and {"Name": "QueueName", "Value": f"<{queue}.QueueName>"} in a.get("Dimensions", [])
            ]
            self.assertEqual(1, len(alarms), f"an alarm on {queue}")
            alarm = alarms[0]
            self.assertEqual((0, "GreaterThanThreshold"), (alarm["Threshold"], alarm["ComparisonOperator"]))
            self.assertEqual("notBreaching", alarm["TreatMissingData"])
            topics = [a for a in alarm["AlarmActions"] if stack.cfn["Resources"].get(str(a).strip("<>"), {}).get("Type") == "AWS::SNS::Topic"]
            self.assertTrue(topics, "the alarm publishes to the alarm topic")
            self.assertGreaterEqual(props.get("MessageRetentionPeriod", 345600), 7 * 24 * 3600, "dead letters wait a week at least")


class Item5Retries(unittest.TestCase):
    """Every lambda:invoke task retries exactly as tests/infra/retry_policy.json says (AWS's
    best-practice list for Lambda service exceptions included), and its timeout leaves the
    function's own timeout room to surface as the function's error (Sandbox.Timedout)."""

    # An invocation that did not finish, by every name it reaches a Retry under. With the
    # optimized lambda:invoke integration the error is the function error's errorType: Lambda
    # reports a function timeout as Sandbox.Timedout and a process exit (a panic under
    # panic=abort, an out-of-memory kill) as Runtime.ExitError (Lambda developer guide,
    # "Troubleshoot invocation issues in Lambda"); Step Functions' best-practice page names
    # unhandled errors, timeouts and out-of-memory included, Lambda.Unknown; States.Timeout is
    # the task's own TimeoutSeconds.
    UNFINISHED = ["Lambda.Unknown", "States.Timeout", "Sandbox.Timedout", "Runtime.ExitError"]

    def test_every_lambda_task_retries_as_the_policy_says(self):
        for file, tasks in policy()["tasks"].items():
            found = dict(lambda_tasks(definition(file)["States"]))
            self.assertEqual(set(tasks), set(found), f"{file}: its lambda:invoke tasks")
            for name, retriers in tasks.items():
                expected = [policy()["retriers"][r] for r in retriers]
                self.assertEqual(expected, found[name].get("Retry"), f"{file} {name}")

    def test_aws_best_practice_lambda_errors_are_retried(self):
        best_practice = {
            "Lambda.ClientExecutionTimeoutException",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
        }
        for file in policy()["tasks"]:
            for name, task in lambda_tasks(definition(file)["States"]):
                retried = {e for r in task.get("Retry", []) for e in r["ErrorEquals"]}
                self.assertLessEqual(best_practice, retried, f"{file} {name}")
                self.assertIn("Lambda.Unknown", retried, f"{file} {name}: a function timeout or OOM")

    def test_an_unfinished_invocation_is_retried_by_every_name(self):
        """A function timeout or crash is retried whichever name it arrives under, all by one
        retrier (one count of attempts, one interval), in every lambda:invoke task."""
        for file in policy()["tasks"]:
            for name, task in lambda_tasks(definition(file)["States"]):
                holding = [r for r in task.get("Retry", []) if set(self.UNFINISHED) & set(r["ErrorEquals"])]
                self.assertEqual(1, len(holding), f"{file} {name}: {holding}")
                self.assertEqual(self.UNFINISHED, holding[0]["ErrorEquals"], f"{file} {name}")
                self.assertGreaterEqual(holding[0]["MaxAttempts"], 1, f"{file} {name}")

    def test_every_task_retries_s3_and_the_secret(self):
        """Every invocation may meet a cold start that reads the account key's secret, and every
        task reads or writes the bucket (Plan its manifests, RunStep and LetGo the upload,
        Summarize the report): one S3 500 must not end a backfill that exported its windows."""
        for file in policy()["tasks"]:
            for name, task in lambda_tasks(definition(file)["States"]):
                retried = {e for r in task.get("Retry", []) for e in r["ErrorEquals"]}
                self.assertLessEqual({"S3Unavailable", "SecretUnavailable"}, retried, f"{file} {name}")
        summarize = definition("backfill.asl.json")["States"]["Summarize"]
        self.assertIn(policy()["retriers"]["plan_retryable"], summarize["Retry"])

    def test_exactly_the_retryable_function_errors_are_retried(self):
        retryable = {n for n, r in policy()["function_error_types"].items() if r}
        for file in policy()["tasks"]:
            for name, task in lambda_tasks(definition(file)["States"]):
                retried = {e for r in task.get("Retry", []) for e in r["ErrorEquals"]}
                self.assertFalse(retried & {"States.ALL", "States.TaskFailed"}, f"{file} {name}: retries everything")
                self.assertFalse(retried & (set(policy()["function_error_types"]) - retryable), f"{file} {name}")
                if name.endswith("RunStep"):
                    self.assertEqual(retryable, retried & set(policy()["function_error_types"]), f"{file} {name}")

    def test_task_timeout_leaves_the_function_timeout_room(self):
        function_timeout = sam_template()["Resources"]["ExportFunction"]["Properties"]["Timeout"]
        self.assertEqual(policy()["function_timeout_seconds"], function_timeout)
        for file in policy()["tasks"]:
            for name, task in lambda_tasks(definition(file)["States"]):
                self.assertEqual(policy()["task_timeout_seconds"], task.get("TimeoutSeconds"), f"{file} {name}")
                self.assertGreaterEqual(task["TimeoutSeconds"], function_timeout + 60, f"{file} {name}")

    def test_the_runbook_writes_the_decision_down(self):
        runbook = (DOCS / "runbook.md").read_text()
        for retrier in policy()["retriers"].values():
            for error in retrier["ErrorEquals"]:
                self.assertTrue(f"`{error}`" in runbook, f"docs/runbook.md does not say how {error} is retried")


class Item6FailurePaths(unittest.TestCase):
    """A failed job (error {error_type, message}, from the function) and a caught error
    ({Error, Cause}, from the Catch) end the same way: the Fail's Error is the errorType, its
    Cause the message; a backfill window's outcome keeps its key. Run in moto's engine."""

    @classmethod
    def setUpClass(cls):
        cls.engine = StepFunctionsEngine().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.engine.__exit__(None, None, None)

    def test_export_of_a_failed_job_fails_with_its_error_type_and_message(self):
        described, _ = self.engine.run(definition("state-machine.asl.json"), FAILED_JOB, start_at="WhatNext")
        self.assertEqual("FAILED", described["status"])
        self.assertEqual(FAILED_JOB["error"]["error_type"], described.get("error"), described.get("cause"))
        self.assertEqual(FAILED_JOB["error"]["message"], described.get("cause"))

    def test_export_of_a_caught_error_fails_with_its_error_and_cause(self):
        window = {k: FAILED_JOB[k] for k in ("database", "time_start", "time_end", "key")}
        described, events = self.engine.run(definition("state-machine.asl.json"), window)
        self.assertEqual("FAILED", described["status"])
        self.assertEqual("Lambda.ResourceNotFoundException", described.get("error"))
        self.assertIn("not-deployed", described.get("cause", ""))
        self.assertIn("FailStateEntered", [e["type"] for e in events])

    def test_a_backfill_window_keeps_its_key_and_outcome_both_ways(self):
        item = item_processor(definition("backfill.asl.json"))
        described, _ = self.engine.run(item, FAILED_JOB, start_at="WhatNext")
        self.assertEqual(
            "SUCCEEDED", described["status"],
            f"a failed window is an outcome, not a failed child: {described.get('error')}: {described.get('cause')}",
        )
        self.assertEqual(
            {"outcome": "failed", "key": FAILED_JOB["key"], "error_type": "ExportFailed"},
            json.loads(described["output"]),
        )
        window = {k: FAILED_JOB[k] for k in ("database", "time_start", "time_end", "key")}
        described, _ = self.engine.run(item, window)
        self.assertEqual("SUCCEEDED", described["status"])
        self.assertEqual(
            {"outcome": "failed", "key": FAILED_JOB["key"], "error_type": "Lambda.ResourceNotFoundException"},
            json.loads(described["output"]),
        )

    def test_a_done_window_keeps_its_outcome(self):
        item = item_processor(definition("backfill.asl.json"))
        done = dict(FAILED_JOB, step="done", bytes=10, records=2)
        del done["error"]
        described, _ = self.engine.run(item, done, start_at="WhatNext")
        self.assertEqual(
            {"outcome": "done", "key": done["key"], "bytes": 10, "records": 2},
            json.loads(described["output"]),
        )

    def test_both_loops_stay_identical(self):
        export = definition("state-machine.asl.json")["States"]
        item = item_processor(definition("backfill.asl.json"))["States"]
        for name, state in export.items():
            if state["Type"] not in ("Succeed", "Fail"):
                self.assertEqual(state, item.get(name), name)


class Item7BoundedFanOut(unittest.TestCase):
    """The backfill runs at most 64 exports at once (0 would be no limit to a Distributed Map),
    the function may have reserved concurrency, and docs/backfill.md says what that costs."""

    @classmethod
    def setUpClass(cls):
        cls.engine = StepFunctionsEngine().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.engine.__exit__(None, None, None)

    def after_plan(self, max_concurrency) -> tuple[dict, list[str]]:
        backfill = definition("backfill.asl.json")
        planned = {"windows": [], "planned": 0, "skipped": 0, "max_concurrency": max_concurrency}
        described, events = self.engine.run(backfill, planned, start_at=backfill["States"]["Plan"]["Next"])
        return described, [e["type"] for e in events]

    def test_more_than_the_cap_or_none_is_refused(self):
        for value in (MAX_CONCURRENCY + 1, 1000, 0):
            described, types = self.after_plan(value)
            self.assertEqual(("FAILED", "InvalidJob"), (described["status"], described.get("error")), value)
            self.assertIn("max_concurrency", described.get("cause", ""))
            self.assertNotIn("MapStateEntered", types, value)

    def test_up_to_the_cap_the_map_runs(self):
        for value in (1, 4, MAX_CONCURRENCY):
            _, types = self.after_plan(value)
            self.assertIn("MapStateEntered", types, value)

    def test_the_map_takes_its_concurrency_from_the_plan(self):
        each = definition("backfill.asl.json")["States"]["ExportEach"]
        self.assertEqual("$.max_concurrency", each.get("MaxConcurrencyPath"))
        self.assertNotIn("MaxConcurrency", each)

    def test_reserved_concurrency_is_a_parameter(self):
        self.assertNotIn("ReservedConcurrentExecutions", Stack().resource("ExportFunction"), "none by default")
        reserved = Stack({"ReservedConcurrency": str(MAX_CONCURRENCY + 2)}).resource("ExportFunction")
        self.assertEqual(str(MAX_CONCURRENCY + 2), str(reserved["ReservedConcurrentExecutions"]))

    def test_docs_give_the_cap_reservation_and_request_rate(self):
        backfill = (DOCS / "backfill.md").read_text()
        for needle in ("ReservedConcurrency", "at most 64", "POLL_INTERVAL_SECONDS", "requests per second"):
            self.assertTrue(needle in backfill, f"docs/backfill.md does not mention {needle!r}")


class Item8DocsAndEncryption(unittest.TestCase):
    """Docs that match AWS (execution names), and an optional KMS key and bucket owner for the
    logs bucket, with least privilege."""

    KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def test_docs_never_reuse_an_execution_name(self):
        """A Standard workflow's execution name cannot be used again for 90 days: a retried
        backfill needs a new one."""
        for doc in ("backfill.md", "runbook.md"):
            text = (DOCS / doc).read_text()
            for command in re.findall(r"start-execution[^`]*", text):
                for name in re.findall(r"--name[ =](\S+)", command):
                    self.assertIn("$", name, f"docs/{doc}: --name {name} is the same on every attempt")
        backfill = (DOCS / "backfill.md").read_text()
        self.assertTrue("90 days" in backfill, "docs/backfill.md: execution names are kept 90 days")

    def kms_statements(self, stack: Stack) -> list[dict]:
        return [
            s for s in stack.role_statements("ExportFunctionRole")
            if any(str(a).startswith("kms:") for a in as_list(s["Action"]))
        ]

    def test_no_key_no_kms(self):
        stack = Stack()
        self.assertEqual([], self.kms_statements(stack))
        env = stack.resource("ExportFunction")["Environment"]["Variables"]
        self.assertNotIn("LOGS_KMS_KEY_ARN", env)
        rule = stack.resource("LogsBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        self.assertEqual([{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}], rule)

    def test_a_created_bucket_encrypts_with_the_key_and_a_bucket_key(self):
        stack = Stack({"LogsKmsKeyArn": self.KEY})
        rule = stack.resource("LogsBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        self.assertEqual(
            [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.KEY}, "BucketKeyEnabled": True}],
            rule,
        )
        self.check_function_may_use_only_the_key(stack, "<LogsBucket>", "fauna-logs")

    def test_an_existing_bucket_gets_a_grant_on_its_key_only(self):
        stack = Stack({"ExistingBucketName": "team-logs", "LogsKmsKeyArn": self.KEY, "LogsPrefix": "exports/fauna"})
        self.assertIsNone(stack.resource("LogsBucket"))
        self.check_function_may_use_only_the_key(stack, "team-logs", "exports/fauna")

    def check_function_may_use_only_the_key(self, stack: Stack, bucket: str, prefix: str):
        statements = self.kms_statements(stack)
        self.assertEqual(1, len(statements), statements)
        grant = statements[0]
        self.assertEqual("Allow", grant["Effect"])
        self.assertEqual({"kms:GenerateDataKey", "kms:Decrypt"}, set(as_list(grant["Action"])))
        self.assertEqual([self.KEY], as_list(grant["Resource"]))
        like = grant["Condition"]["StringLike"]
        self.assertEqual("s3.*.amazonaws.com", like["kms:ViaService"])
        self.assertEqual(
            {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{prefix}/*"},
            set(as_list(like["kms:EncryptionContext:aws:s3:arn"])),
        )
        env = stack.resource("ExportFunction")["Environment"]["Variables"]
        self.assertEqual(self.KEY, env["LOGS_KMS_KEY_ARN"])

    def test_the_bucket_owner_is_known_when_it_can_be(self):
        cases = [
            ({}, ACCOUNT),
            ({"LogsKmsKeyArn": self.KEY}, ACCOUNT),
            ({"ExistingBucketName": "team-logs", "ExistingBucketOwner": "111122223333"}, "111122223333"),
            ({"ExistingBucketName": "team-logs"}, None),
        ]
        for params, owner in cases:
            env = Stack(params).resource("ExportFunction")["Environment"]["Variables"]
            self.assertEqual(owner, env.get("LOGS_BUCKET_OWNER"), params)

    def test_the_function_role_names_what_it_may_touch(self):
        for params in ({}, {"LogsKmsKeyArn": self.KEY}, {"ExistingBucketName": "team-logs", "LogsKmsKeyArn": self.KEY}):
            for statement in Stack(params).role_statements("ExportFunctionRole"):
                self.assertNotIn("*", as_list(statement["Resource"]), statement)
                for action in as_list(statement["Action"]):
                    self.assertFalse(action == "*" or action.endswith(":*"), statement)



# Every field of a Fauna query-log record (the reference, section 6) and the type its column has.
DOCUMENTED_FIELDS = {
    "API_VERSION": "string",
    "BYTES_IN": "bigint", "BYTES_OUT": "bigint", "BYTE_READ_OPS": "bigint", "BYTE_WRITE_OPS": "bigint",
    "COMPUTE_OPS": "bigint", "QUERY_TIME_MS": "bigint", "TXN_RETRIES": "bigint",
    "DATABASE": "array<string>",
    "FQL_SHAPE": "string",
    "RATE_LIMITS_HIT": "array<string>",
    "REGION_GROUP": "string", "REQUEST_METHOD": "string",
    "REQUEST_HEADERS": "string",
    "RESPONSE_CODE": "string",
    "TAGS": "map<string,string>",
    "TRACEPARENT": "string", "TS": "string",
}
ATHENA_RESOURCES = {
    "QueryLogsDatabase": "AWS::Glue::Database",
    "QueryLogsTable": "AWS::Glue::Table",
    "QueryLogsTypedView": "AWS::Glue::Table",
    "QueryResultsBucket": "AWS::S3::Bucket",
    "QueryResultsBucketPolicy": "AWS::S3::BucketPolicy",
    "QueryWorkGroup": "AWS::Athena::WorkGroup",
    "QueryLogsPolicy": "AWS::IAM::ManagedPolicy",
}
ATHENA_OUTPUTS = {"AthenaDatabase", "AthenaTable", "AthenaWorkGroup", "AthenaQueryEditorUrl", "QueryLogsPolicyArn"}


def saved_query_files() -> list[Path]:
    return sorted((INFRA / "athena" / "queries").glob("*.sql"))


class Item9QueryYourLogs(unittest.TestCase):
    """Issue #11: a Glue database, table (partition projection) and view, an Athena workgroup
    with the saved queries, on by default and off with QueryWithAthena=false; least privilege
    for whoever queries; outputs to find them. (The SQL itself, and the table on a real
    engine: tests/athena.)"""

    KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def outputs(self, stack: Stack) -> dict:
        return {
            name: stack.resolve(out["Value"])
            for name, out in stack.cfn.get("Outputs", {}).items()
            if "Condition" not in out or stack.condition(out["Condition"])
        }

    def test_on_by_default_with_a_saved_query_per_file(self):
        stack = Stack()
        for name, type_ in ATHENA_RESOURCES.items():
            self.assertEqual(type_, stack.cfn["Resources"][name]["Type"], name)
            self.assertIsNotNone(stack.resource(name), f"{name} is created by default")
        saved = stack.resources("AWS::Athena::NamedQuery")
        self.assertEqual(len(saved_query_files()), len(saved), sorted(saved))
        self.assertGreaterEqual(len(saved), 6)
        for query in saved.values():
            self.assertEqual("<QueryLogsDatabase>", query["Database"])
            self.assertEqual("<QueryWorkGroup>", query["WorkGroup"])
        self.assertLessEqual(ATHENA_OUTPUTS, set(self.outputs(stack)))
        self.assertEqual([], stack.refused())

    def test_the_parameter_turns_it_all_off(self):
        stack = Stack({"QueryWithAthena": "false"})
        self.assertEqual([], stack.refused())
        athena_only = {"AWS::Glue::Database", "AWS::Glue::Table", "AWS::Athena::WorkGroup", "AWS::Athena::NamedQuery"}
        for name, resource in stack.cfn["Resources"].items():
            if name in ATHENA_RESOURCES or resource["Type"] in athena_only:
                self.assertEqual("QueryWithAthena", resource.get("Condition"), name)
                self.assertIsNone(stack.resource(name), f"{name} is not created")
        self.assertFalse(ATHENA_OUTPUTS & set(self.outputs(stack)))
        # The rest of the stack is as it was.
        self.assertIsNotNone(stack.resource("ExportFunction"))
        self.assertIsNotNone(stack.resource("LogsBucket"))

    def test_the_database_is_stack_unique(self):
        names = {n: Stack(stack_name=n).resource("QueryLogsDatabase")["DatabaseInput"]["Name"] for n in ("logs-a", "logs-b")}
        self.assertEqual({n: "fauna_logs_" + stack_uuid(n).replace("-", "_") for n in names}, names)
        for name in names.values():
            self.assertRegex(name, r"^[a-z0-9_]+$", "Athena names take letters, digits and _; Glue keeps them lower case")
        named = Stack({"AthenaDatabaseName": "team_logs"}).resource("QueryLogsDatabase")["DatabaseInput"]["Name"]
        self.assertEqual("team_logs", named)

    def test_every_documented_field_is_a_column_of_its_type(self):
        table = Stack().resource("QueryLogsTable")["TableInput"]
        columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
        self.assertEqual({k.lower(): v for k, v in DOCUMENTED_FIELDS.items()}, columns)
        self.assertEqual("org.apache.hive.hcatalog.data.JsonSerDe", table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"])
        self.assertEqual("org.apache.hadoop.mapred.TextInputFormat", table["StorageDescriptor"]["InputFormat"])
        self.assertEqual("EXTERNAL_TABLE", table["TableType"])

    def test_partitions_do_not_collide_with_data_columns_and_are_projected(self):
        table = Stack().resource("QueryLogsTable")["TableInput"]
        partitions = [c["Name"] for c in table["PartitionKeys"]]
        columns = {c["Name"].lower() for c in table["StorageDescriptor"]["Columns"]}
        self.assertFalse({p.lower() for p in partitions} & columns, "names are compared case-insensitively")
        self.assertFalse({p.lower() for p in partitions} & {f.lower() for f in DOCUMENTED_FIELDS})
        params = table["Parameters"]
        self.assertEqual("true", params["projection.enabled"])
        kinds = {p: params[f"projection.{p}.type"] for p in partitions}
        self.assertEqual({"scope_region_group": "enum", "scope_database": "injected", "window_day": "date"}, kinds)
        self.assertEqual(REGION_GROUPS, params["projection.scope_region_group.values"].split(","))
        self.assertEqual("yyyy-MM-dd", params["projection.window_day.format"])
        self.assertEqual("date", {c["Name"]: c["Type"] for c in table["PartitionKeys"]}["window_day"])
        self.assertTrue(params["projection.window_day.range"].endswith(",NOW"))
        for name in params:
            self.assertFalse(name.startswith("projection.") and name.split(".")[1] not in partitions + ["enabled"], name)

    def test_the_location_template_is_the_functions_prefix(self):
        """storage.location.template is built from the LogsPrefix the function gets as
        LOGS_PREFIX, for the created and an existing bucket: the object keys' folders."""
        for params, bucket in (
            ({}, "<LogsBucket>"),
            ({"LogsPrefix": "exports/fauna"}, "<LogsBucket>"),
            ({"ExistingBucketName": "team-logs", "LogsPrefix": "a/b/c"}, "team-logs"),
        ):
            stack = Stack(params)
            env = stack.resource("ExportFunction")["Environment"]["Variables"]
            self.assertEqual(env["LOGS_BUCKET"], bucket)
            table = stack.resource("QueryLogsTable")["TableInput"]
            root = f"s3://{bucket}/{object_key_prefix(env['LOGS_PREFIX'])}"
            self.assertEqual(
                f"{root}region_group=${{scope_region_group}}/database=${{scope_database}}/date=${{window_day}}/",
                table["Parameters"]["storage.location.template"],
                params,
            )
            self.assertEqual(root, table["StorageDescriptor"]["Location"])

    def test_the_view_is_stored_as_athena_stores_views(self):
        stack = Stack(stack_name="logs-a")
        view = stack.resource("QueryLogsTypedView")["TableInput"]
        self.assertEqual("VIRTUAL_VIEW", view["TableType"])
        self.assertEqual("true", view["Parameters"]["presto_view"])
        text = view["ViewOriginalText"]
        self.assertTrue(text.startswith("/* Presto View: ") and text.endswith(" */"), text[:40])
        decoded = json.loads(base64.b64decode(text[len("/* Presto View: "):-3]))
        self.assertEqual("awsdatacatalog", decoded["catalog"])
        self.assertEqual("<QueryLogsDatabase>", decoded["schema"])
        self.assertIn("FROM query_logs", decoded["originalSql"])
        glue_columns = [c["Name"] for c in view["StorageDescriptor"]["Columns"]]
        self.assertEqual(glue_columns, [c["name"] for c in decoded["columns"]])
        self.assertLessEqual({"ts", "http_status", "user_agent", "forwarded_for"}, set(glue_columns))

    def test_the_workgroup_enforces_its_results_location_and_a_cutoff(self):
        for params, encryption in (
            ({}, {"EncryptionOption": "SSE_S3"}),
            ({"LogsKmsKeyArn": self.KEY, "AthenaBytesScannedCutoff": "1000000000"}, {"EncryptionOption": "SSE_KMS", "KmsKey": self.KEY}),
        ):
            stack = Stack(params)
            config = stack.resource("QueryWorkGroup")["WorkGroupConfiguration"]
            self.assertIs(True, config["EnforceWorkGroupConfiguration"])
            self.assertEqual(stack.params["AthenaBytesScannedCutoff"], str(config["BytesScannedCutoffPerQuery"]))
            self.assertEqual("s3://<QueryResultsBucket>/", config["ResultConfiguration"]["OutputLocation"])
            self.assertEqual(ACCOUNT, config["ResultConfiguration"]["ExpectedBucketOwner"])
            self.assertEqual(encryption, config["ResultConfiguration"]["EncryptionConfiguration"])
            self.assertEqual("Athena engine version 3", config["EngineVersion"]["SelectedEngineVersion"])
            bucket = stack.resource("QueryResultsBucket")
            expiry = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
            self.assertEqual([stack.params["AthenaResultsRetentionDays"]], [str(r["ExpirationInDays"]) for r in expiry])
            self.assertEqual(["Enabled"], [r["Status"] for r in expiry])
            self.assertTrue(all(bucket["PublicAccessBlockConfiguration"].values()))
            policy_ = stack.resource("QueryResultsBucketPolicy")["PolicyDocument"]["Statement"]
            self.assertEqual(["DenyInsecureTransport"], [s["Sid"] for s in policy_])

    def test_parameters_refuse_what_athena_refuses(self):
        for name, value, accepted in (
            ("AthenaBytesScannedCutoff", "10000000", True),
            ("AthenaBytesScannedCutoff", "9999999", False),
            ("AthenaResultsRetentionDays", "0", False),
            ("AthenaResultsRetentionDays", "1", True),
            ("QueryWithAthena", "yes", False),
        ):
            errors = parameter_errors(cfn_template()["Parameters"][name], value)
            self.assertEqual(accepted, not errors, (name, value, errors))

    def test_the_query_policy_grants_least_privilege(self):
        for params in ({}, {"LogsKmsKeyArn": self.KEY}, {"ExistingBucketName": "team-logs", "LogsPrefix": "exports/fauna"}):
            stack = Stack(params)
            env = stack.resource("ExportFunction")["Environment"]["Variables"]
            bucket, prefix = env["LOGS_BUCKET"], env["LOGS_PREFIX"]
            statements = stack.resource("QueryLogsPolicy")["PolicyDocument"]["Statement"]
            by_sid = {s["Sid"]: s for s in statements}
            for statement in statements:
                self.assertEqual("Allow", statement["Effect"])
                for action in as_list(statement["Action"]):
                    self.assertNotIn("*", action, statement["Sid"])
                if "*" in as_list(statement["Resource"]):
                    self.assertTrue(all(a.split(":")[1].startswith("List") for a in as_list(statement["Action"])), statement)
            actions = {a for s in statements for a in as_list(s["Action"])}
            self.assertFalse({a for a in actions if a.startswith("s3:") and ("Delete" in a or "Put" in a)} - {"s3:PutObject"})
            # Writes go to the results bucket only; the logs are only read.
            for statement in statements:
                for resource in as_list(statement["Resource"]):
                    if f":::{bucket}" in str(resource):
                        self.assertTrue(set(as_list(statement["Action"])) <= {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}, statement)
            self.assertEqual([f"arn:aws:s3:::{bucket}/{prefix}/*"], as_list(by_sid["ReadTheLogs"]["Resource"]))
            self.assertEqual({"StringLike": {"s3:prefix": f"{prefix}/*"}}, by_sid["ListTheLogs"]["Condition"])
            self.assertEqual(
                [f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/<QueryWorkGroup>"],
                as_list(by_sid["RunQueriesInTheWorkGroup"]["Resource"]),
            )
            glue = as_list(by_sid["ReadTheTableDefinitions"]["Resource"])
            self.assertEqual({"glue:GetDatabase", "glue:GetTable", "glue:GetTables"}, set(by_sid["ReadTheTableDefinitions"]["Action"]))
            self.assertTrue(all(r.endswith(("catalog", "<QueryLogsDatabase>", "/query_logs", "/query_logs_typed")) for r in glue), glue)
            kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
            if "LogsKmsKeyArn" in params:
                self.assertEqual(1, len(kms))
                self.assertEqual([self.KEY], as_list(kms[0]["Resource"]))
                self.assertEqual("s3.*.amazonaws.com", kms[0]["Condition"]["StringLike"]["kms:ViaService"])
            else:
                self.assertEqual([], kms)

    def test_outputs_name_the_database_table_workgroup_and_editor(self):
        out = self.outputs(Stack(stack_name="logs-a"))
        self.assertEqual("<QueryLogsDatabase>", out["AthenaDatabase"])
        self.assertEqual("query_logs", out["AthenaTable"])
        self.assertEqual("<QueryWorkGroup>", out["AthenaWorkGroup"])
        self.assertEqual(f"https://{REGION}.console.aws.amazon.com/athena/home?region={REGION}#/query-editor", out["AthenaQueryEditorUrl"])
        self.assertEqual("<QueryLogsPolicy>", out["QueryLogsPolicyArn"])
        table = Stack().resource("QueryLogsTable")["TableInput"]
        self.assertEqual(out["AthenaTable"], table["Name"])



# ---------------------------------------------------------------------------------------------
# Names Glue folds, names services bound, policies for service principals, backfill redrive
# ---------------------------------------------------------------------------------------------


def paths(node, path: tuple = ()):
    """(path, node) of every node below `node`, the path of keys (lists' indices as "*")."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, path + (key,))
    elif isinstance(node, list):
        for value in node:
            yield from paths(value, path + ("*",))


def mentions(node, names: set[str]) -> set[str]:
    """Which of `names` (parameters, pseudo parameters) a raw template node refers to, by Ref
    or inside a Fn::Sub text."""
    found = set()
    for _, sub in paths(node):
        if isinstance(sub, dict) and set(sub) == {"Ref"} and sub["Ref"] in names:
            found.add(sub["Ref"])
        if isinstance(sub, dict) and "Fn::Sub" in sub:
            text = sub["Fn::Sub"] if isinstance(sub["Fn::Sub"], str) else sub["Fn::Sub"][0]
            found |= {n for n in names if "${" + n + "}" in text}
    return found


class GlueNamesAreLowerCase(unittest.TestCase):
    """Glue keeps database names in lower case ("For hive compatibility, this is folded to
    lowercase when it is stored"): a name built from the stack's name, which may hold capitals,
    is not the name the query policy's ARNs, the view and the saved queries use."""

    STACK_NAMES = ("Fauna-Logs-Prod", "logs-a", "L" + "x" * 127)

    def database_name(self, stack: Stack) -> str:
        return stack.resource("QueryLogsDatabase")["DatabaseInput"]["Name"]

    def test_the_database_name_is_lower_case_by_construction(self):
        for stack_name in self.STACK_NAMES:
            for params in ({}, {"AthenaDatabaseName": "team_logs"}):
                name = self.database_name(Stack(params, stack_name=stack_name))
                self.assertRegex(name, r"^[a-z][a-z0-9_]{0,254}$", (stack_name, params))
        raw = cfn_template()["Resources"]["QueryLogsDatabase"]["Properties"]["DatabaseInput"]["Name"]
        self.assertFalse(mentions(raw, {"AWS::StackName"}), "never the stack's name: it may hold capitals")
        spec = cfn_template()["Parameters"]["AthenaDatabaseName"]
        self.assertEqual([], parameter_errors(spec, ""))
        for upper in ("Logs", "LOGS", "team_Logs"):
            self.assertTrue(parameter_errors(spec, upper), upper)

    def test_every_glue_name_in_the_template_is_the_databases_and_lower_case(self):
        """Whatever names the database (the tables' DatabaseName, the saved queries' Database,
        the view's schema, the query policy's glue ARNs) names it by the resource, never by the
        stack's name; and resolved, every one is lower case."""
        cfn = cfn_template()
        raw_names = []
        for logical, resource in cfn["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Glue::Table":
                raw_names.append((logical, props["DatabaseName"]))
            if resource["Type"] == "AWS::Athena::NamedQuery":
                raw_names.append((logical, props["Database"]))
        for logical, raw in raw_names:
            self.assertEqual({"Ref": "QueryLogsDatabase"}, raw, logical)
        for stack_name in self.STACK_NAMES:
            stack = Stack(stack_name=stack_name)
            database = self.database_name(stack)
            glue_arns = [
                r.replace("<QueryLogsDatabase>", database)
                for s in stack.resource("QueryLogsPolicy")["PolicyDocument"]["Statement"]
                for r in as_list(s["Resource"]) if ":glue:" in str(r)
            ]
            self.assertIn(f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{database}", glue_arns)
            for arn in glue_arns:
                self.assertEqual(arn.lower(), arn, f"{stack_name}: {arn} names what Glue does not store")
            for logical, table in stack.resources("AWS::Glue::Table").items():
                name = table["TableInput"]["Name"]
                self.assertEqual(name.lower(), name, logical)
            view = stack.resource("QueryLogsTypedView")["TableInput"]["ViewOriginalText"]
            schema = json.loads(base64.b64decode(view[len("/* Presto View: "):-3]))["schema"]
            self.assertEqual("<QueryLogsDatabase>", schema)
        self.assertEqual({"Ref": "QueryLogsDatabase"}, cfn["Outputs"]["AthenaDatabase"]["Value"])


# The most characters each name-like property takes (the services' API references; where
# cfn-lint's bundled resource schema states a bound, test_the_limits_are_the_services checks
# it against this table).
NAME_LIMITS = {
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): 128,
    ("AWS::IAM::ManagedPolicy", "Description"): 1000,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::Scheduler::Schedule", "GroupName"): 64,
    ("AWS::Scheduler::ScheduleGroup", "Name"): 64,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::Athena::WorkGroup", "Name"): 128,
    ("AWS::Athena::WorkGroup", "Description"): 1024,
    ("AWS::Athena::NamedQuery", "Name"): 128,
    ("AWS::Glue::Database", "DatabaseInput.Name"): 255,
    ("AWS::Glue::Database", "DatabaseInput.Description"): 2048,
    ("AWS::Glue::Table", "TableInput.Name"): 255,
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::SecretsManager::Secret", "Name"): 512,
}
MAX_STACK_NAME = 128
# Where a name may not be looked for: policy documents (ARNs, not names), the state machines'
# definitions and the view's text.
NOT_NAMES = {"PolicyDocument", "Policies", "KeyPolicy", "AssumeRolePolicyDocument", "DefinitionString",
             "DefinitionSubstitutions", "ViewOriginalText", "QueryString", "Tags", "Environment"}


class NamesFitTheirServices(unittest.TestCase):
    """A name built from the stack's name (up to 128 characters) or a parameter must fit its
    service's limit for the longest stack name and parameter value CloudFormation accepts;
    CloudFormation has no function to shorten a string, so such names are built from bounded
    parts (the stack's ID, parameters with a MaxLength) or left to CloudFormation."""

    def name_like(self) -> list[tuple[str, str, str, object]]:
        """(logical id, type, property path, raw node) of every property whose name ends in
        Name or Description, outside policies and definitions, that uses the stack's name or
        ID or a parameter."""
        cfn = cfn_template()
        sources = set(cfn["Parameters"]) | {"AWS::StackName", "AWS::StackId"}
        found = []
        for logical, resource in cfn["Resources"].items():
            for path, node in paths(resource.get("Properties", {})):
                if not path or set(path) & NOT_NAMES or not str(path[-1]).endswith(("Name", "Description")):
                    continue
                if mentions(node, sources):
                    found.append((logical, resource["Type"], ".".join(path), node))
        return found

    def longest(self, raw, stack_name: str) -> dict:
        """The parameter values that make `raw` longest: each parameter it names at its
        MaxLength (or its longest AllowedValue)."""
        params = {}
        for name in mentions(raw, set(cfn_template()["Parameters"])):
            spec = cfn_template()["Parameters"][name]
            if "MaxLength" in spec:
                params[name] = "l" * int(spec["MaxLength"])
            elif "AllowedValues" in spec:
                params[name] = max((str(v) for v in spec["AllowedValues"]), key=len)
            else:
                self.fail(f"parameter {name} is in a name and has no MaxLength: its names have no bound")
        return params

    def test_every_name_fits_for_the_longest_stack_name_and_parameters(self):
        stack_name = "L" + "x" * (MAX_STACK_NAME - 1)
        found = self.name_like()
        self.assertTrue(found)
        too_long, unclassified = [], []
        for logical, type_, prop, raw in found:
            limit = NAME_LIMITS.get((type_, prop))
            if limit is None:
                unclassified.append(f"{logical}.{prop} ({type_})")
                continue
            for params in ({}, self.longest(raw, stack_name)):
                value = Stack(params, stack_name=stack_name).resource(logical)
                for part in prop.split("."):
                    value = value[part]
                if len(str(value)) > limit:
                    too_long.append(f"{logical}.{prop}: {len(str(value))} > {limit} ({params or 'defaults'}): {value}")
        self.assertEqual([], unclassified, "give these names their limit in NAME_LIMITS")
        self.assertEqual([], too_long)

    def test_the_limits_are_the_services(self):
        """NAME_LIMITS against cfn-lint's bundled resource schemas, where they bound a name
        (maxLength, or a pattern's {1,N})."""
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

        checked = 0
        for (type_, prop), limit in NAME_LIMITS.items():
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, type_).schema
            node = schema
            for part in prop.split("."):
                node = node["properties"][part]
                while "$ref" in node:
                    node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
            bounds = [int(node["maxLength"])] if "maxLength" in node else []
            bounds += [int(n) for n in re.findall(r"\{1,(\d+)\}", node.get("pattern", ""))]
            if bounds:
                self.assertEqual(limit, min(bounds), f"{type_} {prop}")
                checked += 1
        self.assertGreaterEqual(checked, 10)


class ServicePrincipalsNameTheirSource(unittest.TestCase):
    """A resource or key policy that lets an AWS service act says on behalf of whom
    (aws:SourceAccount, aws:SourceArn): without it, the service could use the grant for another
    account's resource (the confused deputy). Role trust policies are the exception below."""

    # Policies these checks leave out, and why.
    EXCEPTIONS = {
        # A service assumes a role only for a resource of this account that a principal here
        # gave it (iam:PassRole does not cross accounts); SAM writes these four.
        "AssumeRolePolicyDocument": "a role's trust policy",
    }
    SOURCE_KEYS = {"aws:SourceAccount", "aws:SourceArn"}

    def service_statements(self, stack: Stack):
        for logical, props in stack.resources().items():
            for path, node in paths(props):
                if not (isinstance(node, dict) and "Statement" in node) or set(path) & set(self.EXCEPTIONS):
                    continue
                for statement in as_list(node["Statement"]):
                    principal = statement.get("Principal")
                    if statement.get("Effect") == "Allow" and isinstance(principal, dict) and "Service" in principal:
                        yield f"{logical}.{'.'.join(path)}", statement

    def test_every_service_principal_statement_carries_a_source_condition(self):
        for params in ({}, {"AlarmEmail": "ops@example.com", "LogsKmsKeyArn": Item8DocsAndEncryption.KEY}):
            stack = Stack(params)
            found = list(self.service_statements(stack))
            self.assertTrue(found, "the alarm key grants cloudwatch.amazonaws.com")
            for where, statement in found:
                conditions = {k: v for test in statement.get("Condition", {}).values() for k, v in test.items()}
                self.assertTrue(self.SOURCE_KEYS & set(conditions), f"{where}: {statement.get('Sid')} has no aws:SourceAccount or aws:SourceArn")
                if "aws:SourceAccount" in conditions:
                    self.assertEqual([ACCOUNT], as_list(conditions["aws:SourceAccount"]), where)
                for arn in as_list(conditions.get("aws:SourceArn", [])):
                    self.assertIn(f":{REGION}:{ACCOUNT}:", arn, where)
            for logical, permission in stack.resources("AWS::Lambda::Permission").items():
                self.assertTrue({"SourceAccount", "SourceArn"} & set(permission), logical)

    def test_cloudwatch_uses_the_alarm_key_for_this_accounts_alarms_only(self):
        statements = Stack().resource("FailedExportsKey")["KeyPolicy"]["Statement"]
        cloudwatch = [s for s in statements if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
        self.assertEqual(1, len(cloudwatch))
        self.assertEqual(
            {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"}},
            cloudwatch[0]["Condition"],
        )


class BackfillRedrive(unittest.TestCase):
    """Redriving a failed backfill execution redrives its Distributed Map's Map Run, whose
    failed child executions Step Functions restarts with the backfill's role: that role needs
    states:RedriveExecution on them (AWS: "IAM permission to redrive a Map Run")."""

    def test_the_backfill_role_may_redrive_its_child_executions_only(self):
        stack = Stack()
        name = stack.resource("BackfillStateMachine")["StateMachineName"]
        statements = stack.role_statements("BackfillStateMachineRole")
        redrive = [s for s in statements if "states:RedriveExecution" in as_list(s["Action"])]
        self.assertEqual(1, len(redrive), statements)
        self.assertEqual(["states:RedriveExecution"], as_list(redrive[0]["Action"]))
        self.assertEqual([f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}/*"], as_list(redrive[0]["Resource"]))
        for role in ("ExportStateMachineRole", "ExportFunctionRole"):
            actions = {a for s in stack.role_statements(role) for a in as_list(s["Action"])}
            self.assertNotIn("states:RedriveExecution", actions, role)

    def test_the_backfill_role_names_its_own_state_machine(self):
        """The ARNs of the backfill's own grants are built from its name (a resource cannot
        !Ref itself): they must be the name the state machine gets."""
        for stack_name in ("logs-a", "L" + "x" * (MAX_STACK_NAME - 1)):
            stack = Stack(stack_name=stack_name)
            name = stack.resource("BackfillStateMachine")["StateMachineName"]
            prefix = f"arn:aws:states:{REGION}:{ACCOUNT}:"
            wanted = {f"{prefix}stateMachine:{name}", f"{prefix}execution:{name}/*", f"{prefix}execution:{name}:*"}
            for statement in stack.role_statements("BackfillStateMachineRole"):
                if any(str(a).startswith("states:") for a in as_list(statement["Action"])):
                    self.assertLessEqual(set(as_list(statement["Resource"])), wanted, statement)



class WhatAKilledRunLeaves(unittest.TestCase):
    """The bucket the stack creates removes what a killed run could not: its open upload after a
    day, and its copy record, by the tag the function writes it with (src/store/mod.rs)."""

    def test_the_created_bucket_aborts_uploads_and_expires_tagged_copy_records(self):
        source = (ROOT / "src" / "store" / "mod.rs").read_text()
        tag = re.search(r'pub const EXPIRING_TAG: &str = "([^"=]+)=([^"]+)";', source)
        self.assertIsNotNone(tag, "EXPIRING_TAG in src/store/mod.rs")
        rules = {r["Id"]: r for r in Stack({}).resource("LogsBucket")["LifecycleConfiguration"]["Rules"]}
        self.assertEqual({"DaysAfterInitiation": 1}, rules["AbortIncompleteMultipartUpload"]["AbortIncompleteMultipartUpload"])
        expire = rules["ExpireCopyRecords"]
        self.assertEqual("Enabled", expire["Status"])
        self.assertEqual([{"Key": tag[1], "Value": tag[2]}], expire["TagFilters"])
        self.assertGreater(expire["ExpirationInDays"], 1, "a record outlives the upload it names")


if __name__ == "__main__":
    unittest.main()
