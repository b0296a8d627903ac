"""The OpenAPI schema and the docs pages: generated, documented, served without a CDN."""
import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema():
    return APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_schema_lists_every_endpoint(schema):
    assert sorted(schema["paths"]) == [
        "/api/v1/accounts/lookup/",
        "/api/v1/accounts/{account_id}/balance/",
        "/api/v1/accounts/{account_id}/debits/",
        "/api/v1/accounts/{account_id}/debits/{entry_id}/refund/",
        "/api/v1/accounts/{account_id}/entries/",
        "/api/v1/accounts/{account_id}/grants/",
        "/api/v1/accounts/{account_id}/grants/{grant_id}/void/",
        "/api/v1/accounts/{account_id}/rewards/invite/",
        "/api/v1/accounts/{account_id}/rewards/share/",
        "/api/v1/accounts/{account_id}/rewards/sign-in/",
        "/api/v1/accounts/{account_id}/tasks/",
        "/api/v1/accounts/{account_id}/tasks/{task_id}/",
        "/api/v1/accounts/{account_id}/tasks/{task_id}/complete/",
        "/api/v1/accounts/{account_id}/tasks/{task_id}/fail/",
        "/api/v1/customers/",
    ]


def test_every_operation_has_request_and_response_examples(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            success = next(r for code, r in operation["responses"].items() if code.startswith("2"))
            assert success["content"]["application/json"].get("examples"), (method, path)
            if method == "post":
                assert operation["requestBody"]["content"]["application/json"].get("examples"), path
                assert any(p["name"] == "Idempotency-Key" and p["required"] for p in operation["parameters"])
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


def test_debit_documents_402_with_balance_and_amount(schema):
    response = schema["paths"]["/api/v1/accounts/{account_id}/debits/"]["post"]["responses"]["402"]
    example = next(iter(response["content"]["application/json"]["examples"].values()))["value"]
    assert {"balance", "available", "amount", "code", "message", "fields"} <= set(example["error"])


@pytest.mark.parametrize(("path", "code"), [
    ("/api/v1/accounts/{account_id}/tasks/", "402"),
    ("/api/v1/accounts/{account_id}/tasks/", "409"),
    ("/api/v1/accounts/{account_id}/tasks/{task_id}/complete/", "409"),
    ("/api/v1/accounts/{account_id}/rewards/share/", "200"),
])
def test_task_and_reward_refusals_are_documented_with_examples(schema, path, code):
    response = schema["paths"][path]["post"]["responses"][code]
    assert response["content"]["application/json"]["examples"]


def test_swagger_ui_loads_its_assets_locally_so_docs_work_offline(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "https://" not in page and "http://" not in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_api_path_is_json_404_in_the_error_shape(client, method):
    response = getattr(client, method)("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
