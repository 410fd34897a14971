#!/usr/bin/env python3
"""Validates Kubernetes objects against a CRD's OpenAPI v3 schema as the API
server does with strict field validation (kubectl's default): the schema's
constraints, and an unknown field refused wherever the schema does not allow
unknown fields (x-kubernetes-preserve-unknown-fields, additionalProperties).

    validate_crd.py CRD.json OBJECT.json...

Prints one line per object, "ok" or the errors, and exits 1 if any is refused.
metadata is the API server's own and is not checked here.
"""
import json
import sys

import jsonschema


def strict(schema):
    """The schema with additionalProperties false on every object that names
    its properties and says nothing of others."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        if schema.get("nullable"):
            # OpenAPI's nullable: null is allowed besides the type.
            t = schema.get("type")
            if isinstance(t, str):
                schema["type"] = [t, "null"]
        return schema
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    return schema


def main():
    crd = json.load(open(sys.argv[1]))
    refused = False
    for path in sys.argv[2:]:
        obj = json.load(open(path))
        version = obj["apiVersion"].split("/")[-1]
        found = [v for v in crd["spec"]["versions"] if v["name"] == version]
        if obj["kind"] != crd["spec"]["names"]["kind"] or not found:
            print(f"{path}: not a {crd['metadata']['name']} object of a served version")
            refused = True
            continue
        schema = strict(found[0]["schema"]["openAPIV3Schema"])
        schema["properties"]["apiVersion"] = {"type": "string"}
        schema["properties"]["kind"] = {"type": "string"}
        schema["properties"]["metadata"] = {"type": "object"}
        errors = sorted(
            jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path)
        )
        if errors:
            refused = True
            for e in errors:
                where = ".".join(str(p) for p in e.path) or "(root)"
                print(f"{path}: {where}: {e.message}")
        else:
            print(f"{path}: ok")
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
