"""moto's CloudFormation has no AWS::Lambda::Url; this small model adds it (moto's Lambda API already
keeps function URL configs), so deploy/template.yaml deploys on moto with its Function URL and the
`ApiUrl` output resolves as in AWS. Importing this module registers it."""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class FunctionUrl(CloudFormationModel):
    def __init__(self, config: Any) -> None:
        self.config = config

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> FunctionUrl:
        props = cloudformation_json["Properties"]
        backend = lambda_backends[account_id][region_name]
        return cls(backend.create_function_url_config(props["TargetFunctionArn"], {"AuthType": props["AuthType"]}))

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "FunctionUrl":
            return str(self.config.url) + "/"  # AWS's FunctionUrl ends with a slash
        return str(self.config.function.function_arn)

    @property
    def physical_resource_id(self) -> str:
        return str(self.config.function.function_arn)


parsing.get_model_list.cache_clear()
parsing.get_model_map.cache_clear()
parsing.get_name_type_map.cache_clear()
