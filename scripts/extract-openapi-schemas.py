#!/usr/bin/env python3
"""Extracts the response schemas the simulator's endpoints need from Intercom's
OpenAPI descriptions into tests/data/openapi/intercom-<version>.schemas.json.

Usage: scripts/extract-openapi-schemas.py <spec-dir>
  where <spec-dir> holds <version>/api.intercom.io.yaml (2.16 and 2.11), from
  https://github.com/intercom/Intercom-OpenAPI at commit
  8889625a7b931d8649e18726e7f872ff073520fc (descriptions/<version>/), MIT.

Only structure is kept (type, properties, required, items, enum, $ref,
allOf/anyOf/oneOf, additionalProperties). OpenAPI 3.0 `nullable: true` becomes
a JSON Schema type union (or `anyOf` with null next to a `$ref`);
descriptions, examples and formats are dropped (timestamps are integers
labelled `format: date-time`, which a JSON Schema validator would misread).
Requires Python 3 and PyYAML.
"""

import json
import os
import re
import sys

import yaml

SOURCE = {
    "repository": "https://github.com/intercom/Intercom-OpenAPI",
    "commit": "8889625a7b931d8649e18726e7f872ff073520fc",
    "files": "descriptions/{version}/api.intercom.io.yaml",
    "license": "MIT License, Copyright (c) 2022 Intercom, Inc. See tests/data/openapi/LICENSE-intercom-openapi.txt",
    "generated_by": "scripts/extract-openapi-schemas.py",
}

# (method, path) of every endpoint the simulator serves; path parameters are
# matched by position, whatever their names.
ENDPOINTS = [
    ("get", "/me"),
    ("get", "/contacts"),
    ("post", "/contacts/search"),
    ("get", "/contacts/{}"),
    ("get", "/contacts/{}/notes"),
    ("get", "/contacts/{}/tags"),
    ("get", "/contacts/{}/companies"),
    ("get", "/contacts/{}/segments"),
    ("get", "/conversations"),
    ("post", "/conversations/search"),
    ("get", "/conversations/{}"),
    ("get", "/conversations/deleted"),
    ("get", "/conversations/attributes"),
    ("get", "/admins"),
    ("get", "/teams"),
    ("get", "/tags"),
    ("get", "/segments"),
    ("get", "/data_attributes"),
    ("get", "/ticket_types"),
    ("get", "/companies"),
    ("get", "/companies/scroll"),
    ("post", "/companies/list"),
    ("get", "/companies/{}"),
    ("get", "/companies/{}/contacts"),
    ("get", "/companies/{}/segments"),
    ("get", "/events"),
    ("post", "/tickets/search"),
    ("get", "/admins/activity_logs"),
    ("get", "/help_center/help_centers"),
    ("get", "/help_center/collections"),
    ("get", "/articles"),
    # Writes.
    ("post", "/contacts"),
    ("put", "/contacts/{}"),
    ("delete", "/contacts/{}"),
    ("post", "/contacts/{}/companies"),
    ("post", "/companies"),
    ("post", "/conversations/{}/reply"),
    ("post", "/tickets"),
    ("get", "/tickets/{}"),
    ("post", "/messages"),
]

KEEP = {
    "type", "properties", "required", "items", "enum", "$ref", "allOf", "anyOf",
    "oneOf", "additionalProperties",
}


def clean(node):
    """Structure-only copy of a schema node, with nullable turned into JSON Schema."""
    if isinstance(node, list):
        return [clean(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "properties":
            out[k] = {name: clean(s) for name, s in v.items()}
        elif k in KEEP:
            out[k] = clean(v) if isinstance(v, (dict, list)) else v
    if node.get("nullable") is True:
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out and "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
    return out


def refs(node, found):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/components/schemas/"):
            found.add(r.rsplit("/", 1)[1])
        for v in node.values():
            refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def norm(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def extract(spec):
    paths = {norm(p): ops for p, ops in spec["paths"].items()}
    endpoints = {}
    for method, path in ENDPOINTS:
        op = paths.get(path, {}).get(method)
        if op is None:
            continue
        resp = op.get("responses", {}).get("200", {})
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        endpoints[f"{method.upper()} {path}"] = {
            "operationId": op.get("operationId"),
            "schema": clean(schema),
        }
    endpoints["error"] = {"operationId": None, "schema": {"$ref": "#/components/schemas/error"}}
    all_schemas = spec["components"]["schemas"]
    need, todo, dangling = set(), set(), set()
    refs(endpoints, todo)
    while todo:
        name = todo.pop()
        if name in need or name in dangling:
            continue
        if name not in all_schemas:
            # A $ref to a schema the spec does not define (a spec error):
            # accept anything there, and say so in the output.
            dangling.add(name)
            continue
        need.add(name)
        refs(all_schemas[name], todo)
    schemas = {n: clean(all_schemas[n]) for n in sorted(need)}
    for n in dangling:
        schemas[n] = {}
    return {
        "source": dict(SOURCE, files=SOURCE["files"].format(version=spec["info"]["version"])),
        "dangling_refs": sorted(dangling),
        "endpoints": endpoints,
        "components": {"schemas": schemas},
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "..", "tests", "data", "openapi")
    for version in ("2.16", "2.11"):
        with open(os.path.join(sys.argv[1], version, "api.intercom.io.yaml")) as f:
            spec = yaml.safe_load(f)
        doc = extract(spec)
        out = os.path.join(out_dir, f"intercom-{version}.schemas.json")
        with open(out, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        print(f"{out}: {len(doc['endpoints'])} endpoints, {len(doc['components']['schemas'])} schemas")


if __name__ == "__main__":
    main()
