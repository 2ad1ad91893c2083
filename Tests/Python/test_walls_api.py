"""What a tenant sends that asks for the host is refused through the official SDK, naming the
field; nothing is created."""
import json

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models


def create(client, container, **extra):
    body = {"Containers": [dict({"Name": "c", "Image": "busybox"}, **container)], "EksCiName": "walls"}
    body.update(extra)
    return client.call_json("CreateEKSContainerInstances", body)


@pytest.mark.parametrize("context,named", [
    ({"Privileged": True}, "Containers[0].SecurityContext.Privileged"),
    ({"AllowPrivilegeEscalation": True}, "Containers[0].SecurityContext.AllowPrivilegeEscalation"),
    ({"Capabilities": {"Add": ["SYS_ADMIN"]}}, "Containers[0].SecurityContext.Capabilities.Add SYS_ADMIN"),
])
def test_a_container_that_asks_for_the_host_is_refused(client, context, named):
    before = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).TotalCount
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, {"SecurityContext": context})
    assert e.value.code == "InvalidParameterValue" and named in e.value.message
    assert client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest()).TotalCount == before


def test_an_unknown_runtime_class_is_refused(client):
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, {}, RuntimeClassName="kata")
    assert e.value.code == "InvalidParameterValue" and "RuntimeClassName" in e.value.message


@pytest.mark.parametrize("field,value", [("ImageCacheMatch", "sometimes"), ("ImageCacheMinMatchedImages", 0)])
def test_a_bad_match_option_is_refused_naming_the_field(client, field, value):
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, {}, AutoMatchImageCache=True, **{field: value})
    assert e.value.code == "InvalidParameterValue" and field in e.value.message and str(value) in e.value.message


def test_the_runtime_class_and_the_real_capabilities_field_are_taken(client):
    created = create(client, {"SecurityContext": {"Capabilities": {"Drop": ["NET_RAW"]}, "RunAsUser": 1000}},
                     RuntimeClassName="gvisor")
    ids = created["Response"]["EksCiIds"]
    described = client.call_json("DescribeEKSContainerInstances", {"EksCiIds": ids})["Response"]["EksCis"][0]
    assert described["RuntimeClassName"] == "gvisor"
    client.call_json("DeleteEKSContainerInstances", {"EksCiIds": ids})


def test_a_security_group_that_does_not_exist_is_refused(client):
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, {}, VpcId="vpc-1", SubnetId="subnet-1", SecurityGroupIds=["sg-nope0000"])
    assert e.value.code == "InvalidSecurityGroupId.NotFound" and "SecurityGroupIds sg-nope0000 does not exist" in e.value.message


@pytest.mark.parametrize("dns,named", [
    ({"Nameservers": ["not-an-address"]}, "DnsConfig.Nameservers not-an-address"),
    ({"Nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]}, "at most 3 Nameservers"),
    ({"Options": [{"Name": "nd ots"}]}, "DnsConfig.Options"),
])
def test_a_bad_dns_config_is_refused_naming_it(client, dns, named):
    with pytest.raises(TencentCloudSDKException) as e:
        create(client, {}, VpcId="vpc-1", DnsConfig=dns)
    assert e.value.code == "InvalidParameterValue" and named in e.value.message
