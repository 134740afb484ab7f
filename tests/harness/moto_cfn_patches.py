"""Fixes to moto 5.2.x CloudFormation, applied on import (moto_serial.py imports it).

Fixes (each verified against moto 5.2.5; see FINDINGS.md):
 1. ExecuteChangeSet never recomputed the stack's Outputs: a stack created through a
    CREATE change set had NO outputs, an UPDATE change set left stale outputs.
 2. ExecuteChangeSet never stored the change set's Parameters/Template on the stack, so
    DescribeStacks showed old parameters and the "empty change set -> FAILED" check
    (which moto does implement) compared against stale values.
 3. UpdateStack with identical template + parameters succeeded; real CloudFormation
    answers ValidationError "No updates are to be performed." (mcpctl must handle it).
 4. Stacks only ever get stack-level events; add one CREATE/UPDATE_COMPLETE event per
    resource so event-streaming code sees the resource rows it gets from real AWS.
 5. AWS::SecretsManager::Secret, AWS::ApiGateway::Stage and AWS::CloudWatch::Alarm are not
    supported by moto's CloudFormation: they were silently skipped, !Ref to them resolved
    to nothing (env vars / outputs vanished) and DescribeStackResource crashed (HTTP 500).
    Minimal models below create the real moto objects (secret with GenerateSecretString,
    stage with MethodSettings, metric alarm) and delete them with the stack.
Set MOTO_PATCH_EVENTS=0 to skip fix 4.
"""
import json
import os

from moto.cloudformation import models as m
from moto.cloudformation.exceptions import ValidationError
from moto.core.utils import utcnow

_orig_execute = m.CloudFormationBackend.execute_change_set
_orig_update = m.CloudFormationBackend.update_stack


def _find_change_set(backend, name):
    if name in backend.change_sets:
        return backend.change_sets[name]
    for cs in backend.change_sets.values():
        if cs.change_set_name == name:
            return cs
    return None


def _resource_events(stack, status):
    if os.environ.get("MOTO_PATCH_EVENTS", "1") == "0":
        return
    for logical_id, res in stack.template_dict.get("Resources", {}).items():
        try:
            physical = stack.resource_map[logical_id]
            physical_id = getattr(physical, "physical_resource_id", None) or ""
        except Exception:  # unsupported resource types resolve to None / raise
            physical_id = ""
        ev = m.Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                     physical_resource_id=physical_id if isinstance(physical_id, str) else "",
                     resource_type=res.get("Type", ""), resource_status=status,
                     resource_status_reason=None, resource_properties=None)
        stack.events.append(ev)


def execute_change_set(self, change_set_name, stack_name=None):
    cs = _find_change_set(self, change_set_name)
    _orig_execute(self, change_set_name, stack_name)
    if cs is None:
        return
    st = self.stacks[cs.stack_id]
    st.template = cs.template
    st._parse_template()
    st.parameters = cs.parameters
    st.output_map = st._create_output_map()
    # move the stack-level *_COMPLETE event after the resource events
    done = st.events.pop()
    _resource_events(st, f"{cs.change_set_type}_COMPLETE")
    done.timestamp = utcnow()
    st.events.append(done)


def update_stack(self, name, template, role_arn=None, parameters=None, tags=None):
    st = self.get_stack(name)
    resolved = self._resolve_update_parameters(instance=st, incoming_params=parameters)
    if st.has_template(template) and st.has_parameters(resolved) and (not tags or tags == st.tags):
        raise ValidationError(name, message="No updates are to be performed.")
    stack = _orig_update(self, name, template, role_arn, parameters, tags)
    done = stack.events.pop()
    _resource_events(stack, "UPDATE_COMPLETE")
    done.timestamp = utcnow()
    stack.events.append(done)
    return stack


_orig_create_resources = m.Stack.create_resources


def create_resources(self):
    _orig_create_resources(self)
    if self.status == "CREATE_COMPLETE" and self.events and self.events[-1].resource_status == "CREATE_COMPLETE":
        done = self.events.pop()
        _resource_events(self, "CREATE_COMPLETE")
        done.timestamp = utcnow()
        self.events.append(done)


# ------------------------------------------------------------------ fix 5: extra CFN models
from moto.apigateway.models import apigateway_backends
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends


def _b(v, default=False):
    return str(v).lower() == "true" if v is not None else default


class CfnSecret(CloudFormationModel):
    __module__ = "moto.secretsmanager.cfn_patch"  # moto's model registry keys on the module path
    def __init__(self, arn, name):
        self.arn, self.name = arn, name

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @staticmethod
    def cloudformation_type():
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Id"

    def get_cfn_attribute(self, attr):
        if attr == "Id":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        b = secretsmanager_backends[account_id][region_name]
        value = props.get("SecretString")
        g = props.get("GenerateSecretString")
        if value is None and g is not None:
            pw = json.loads(b.get_random_password(
                password_length=int(g.get("PasswordLength", 32)), exclude_characters=g.get("ExcludeCharacters", ""),
                exclude_numbers=_b(g.get("ExcludeNumbers")), exclude_punctuation=_b(g.get("ExcludePunctuation")),
                exclude_uppercase=_b(g.get("ExcludeUppercase")), exclude_lowercase=_b(g.get("ExcludeLowercase")),
                include_space=_b(g.get("IncludeSpace")), require_each_included_type=_b(g.get("RequireEachIncludedType"), True),
            ))["RandomPassword"]
            if g.get("SecretStringTemplate") and g.get("GenerateStringKey"):
                d = json.loads(g["SecretStringTemplate"])
                d[g["GenerateStringKey"]] = pw
                value = json.dumps(d)
            else:
                value = pw
        out = json.loads(b.create_secret(name=props.get("Name") or resource_name, secret_string=value, secret_binary=None,
                                         description=props.get("Description"), tags=props.get("Tags"),
                                         kms_key_id=props.get("KmsKeyId"), client_request_token=None,
                                         replica_regions=[], force_overwrite=False))
        return cls(out["ARN"], out["Name"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        b = secretsmanager_backends[account_id][region_name]
        try:
            b.delete_secret(secret_id=resource_name, recovery_window_in_days=None, force_delete_without_recovery=True)
        except Exception:
            pass


def _id(v):
    # moto resolves !Ref of AWS::ApiGateway::Deployment to the Deployment object itself
    return v if isinstance(v, str) or v is None else getattr(v, "id", str(v))


def _stage_patch_ops(props):
    ops = []
    for ms in props.get("MethodSettings", []) or []:
        rp = ms.get("ResourcePath", "/*")
        key = f"/{rp.lstrip('/').replace('/', '~1') or '~1'}/{ms.get('HttpMethod', '*')}"
        for prop, path in (("ThrottlingRateLimit", "throttling/rateLimit"), ("ThrottlingBurstLimit", "throttling/burstLimit"),
                           ("MetricsEnabled", "metrics/enabled"), ("LoggingLevel", "logging/loglevel"),
                           ("DataTraceEnabled", "logging/dataTrace"), ("CachingEnabled", "caching/enabled")):
            if prop in ms:
                v = ms[prop]
                ops.append({"op": "replace", "path": f"{key}/{path}", "value": str(v).lower() if isinstance(v, bool) else str(v)})
    return ops


class CfnStage(CloudFormationModel):
    __module__ = "moto.apigateway.cfn_patch"  # moto's model registry keys on the module path
    def __init__(self, api_id, name):
        self.api_id, self.name = api_id, name

    @property
    def physical_resource_id(self):
        return self.name

    @staticmethod
    def cloudformation_name_type():
        return "StageName"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGateway::Stage"

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        b = apigateway_backends[account_id][region_name]
        api, name = _id(props["RestApiId"]), props.get("StageName") or resource_name
        b.create_stage(function_id=api, stage_name=name, deploymentId=_id(props.get("DeploymentId")),
                       variables=props.get("Variables"), description=props.get("Description", ""),
                       tracing_enabled=props.get("TracingEnabled"))
        ops = _stage_patch_ops(props)
        if ops:
            b.update_stage(api, name, ops)
        return cls(api, name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties", {})
        b = apigateway_backends[account_id][region_name]
        ops = _stage_patch_ops(props)
        if props.get("DeploymentId"):
            ops.append({"op": "replace", "path": "/deploymentId", "value": _id(props["DeploymentId"])})
        if ops:
            b.update_stage(original_resource.api_id, original_resource.name, ops)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties", {})
        try:
            apigateway_backends[account_id][region_name].delete_stage(_id(props["RestApiId"]), resource_name)
        except Exception:
            pass


class CfnAlarm(CloudFormationModel):
    __module__ = "moto.cloudwatch.cfn_patch"  # moto's model registry keys on the module path
    def __init__(self, name, arn):
        self.name, self.arn = name, arn

    @property
    def physical_resource_id(self):
        return self.name

    @staticmethod
    def cloudformation_name_type():
        return "AlarmName"

    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Arn"

    def get_cfn_attribute(self, attr):
        if attr == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def _put(cls, name, props, account_id, region_name):
        a = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name, namespace=props.get("Namespace"), metric_name=props.get("MetricName"),
            comparison_operator=props.get("ComparisonOperator"), evaluation_periods=int(props.get("EvaluationPeriods", 1)),
            period=int(props["Period"]) if props.get("Period") is not None else None,
            threshold=float(props["Threshold"]) if props.get("Threshold") is not None else None,
            statistic=props.get("Statistic"), description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions", []), alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []), insufficient_data_actions=props.get("InsufficientDataActions", []),
            datapoints_to_alarm=props.get("DatapointsToAlarm"), unit=props.get("Unit"),
            treat_missing_data=props.get("TreatMissingData"),
            actions_enabled=_b(props.get("ActionsEnabled"), True))
        return cls(name, getattr(a, "alarm_arn", ""))

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties", {})
        return cls._put(props.get("AlarmName") or resource_name, props, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties", {})
        return cls._put(original_resource.name, props, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


m.CloudFormationBackend.execute_change_set = execute_change_set
m.CloudFormationBackend.update_stack = update_stack
m.Stack.create_resources = create_resources
