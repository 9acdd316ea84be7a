#!/usr/bin/env python3
"""Turns module files of Zoho's OpenAPI description (zoho/zohodesk-oas, folder v1.0/) into the
facts-only extract kept next to this script (one <Module>.json per module).

Facts carry over (paths, methods, parameters, types, enums, bounds, patterns, defaults, required
flags, content types, status codes, scopes); prose does not: every description, summary, title,
example and vendor extension is dropped, so nothing Zoho wrote in words lands in this repository.

Conventions of the extract (see README.md in this folder):
- a parameter defined in Common.json is kept by name, {"$common": "<name>"};
- a response defined in Common.json is kept by name, {"$commonResponse": "<name>"};
- a schema of the same file is stored once under "shapes" and used as {"$shape": "<name>"};
- anything defined in another file stays a reference, {"$external": "<the $ref as written>"};
- request bodies, parameters and responses defined in the same file's components are inlined.

Usage (Python 3 standard library only):
    python3 extract.py --src ZOHODESK_OAS_CLONE/v1.0 --out . [--commit SHA] Ticket Thread ...
Without module names every *.json in --src is converted. Without --commit the commit is asked
from git (the last commit that touched each file). Existing `notes` of an output file are kept.
"""

import argparse
import json
import os
import subprocess
import sys

# JSON Schema keywords that state facts. Everything else (description, title, example(s),
# externalDocs, x-* extensions, ...) is dropped.
SCHEMA_KEYS = [
    "type", "format", "enum", "const", "default",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern",
    "items", "minItems", "maxItems", "uniqueItems",
    "required", "properties", "additionalProperties", "patternProperties",
    "minProperties", "maxProperties",
    "oneOf", "anyOf", "allOf", "not", "discriminator",
    "nullable", "readOnly", "writeOnly", "deprecated",
]
PARAM_KEYS = ["name", "in", "required", "schema", "style", "explode"]
METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


class Extractor:
    def __init__(self, module, doc):
        self.module = module
        self.doc = doc
        self.shapes = {}
        self.pending = []

    def local(self, ref):
        """The target of a same-file `#/...` reference."""
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SystemExit(f"{self.module}: unresolvable $ref {ref}")
            node = node[part]
        return node

    @staticmethod
    def split_ref(ref):
        """(file or None for this file, fragment)."""
        target, _, fragment = ref.partition("#")
        target = target[2:] if target.startswith("./") else target
        return (target or None), "#" + fragment

    def is_common(self, target):
        return target == "Common.json" and self.module != "Common"

    def schema(self, node):
        if isinstance(node, list):
            return [self.schema(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target, fragment = self.split_ref(node["$ref"])
            if target is None or target == f"{self.module}.json":
                if fragment.startswith("#/components/schemas/"):
                    name = fragment.rsplit("/", 1)[1]
                    if name not in self.shapes and name not in self.pending:
                        self.pending.append(name)
                    return {"$shape": name}
                return self.schema(self.local(fragment))
            return {"$external": node["$ref"]}
        out = {}
        for key in SCHEMA_KEYS:
            if key not in node:
                continue
            value = node[key]
            if key in ("properties", "patternProperties"):
                out[key] = {k: self.schema(v) for k, v in value.items()}
            elif key in ("items", "additionalProperties", "not"):
                out[key] = self.schema(value)
            elif key in ("oneOf", "anyOf", "allOf"):
                out[key] = [self.schema(v) for v in value]
            elif key == "discriminator":
                out[key] = {k: value[k] for k in ("propertyName", "mapping") if k in value}
                if "mapping" in out[key]:
                    # Same-file targets are named like shapes; others stay as written.
                    out[key]["mapping"] = {
                        k: v.rsplit("/", 1)[1] if v.startswith("#/components/schemas/") else v
                        for k, v in out[key]["mapping"].items()
                    }
            else:
                out[key] = value
        return out

    def parameter(self, node):
        if "$ref" in node:
            target, fragment = self.split_ref(node["$ref"])
            if target is not None and self.is_common(target):
                return {"$common": fragment.rsplit("/", 1)[1]}
            if target is None or target == f"{self.module}.json":
                return self.parameter(self.local(fragment))
            return {"$external": node["$ref"]}
        out = {}
        for key in PARAM_KEYS:
            if key == "required":
                # OpenAPI: path parameters are required, others optional unless they say so.
                out[key] = bool(node.get("required", node.get("in") == "path"))
            elif key in node:
                out[key] = self.schema(node[key]) if key == "schema" else node[key]
        return out

    def content(self, node):
        """{contentType, schema} of the first media type, or {} when there is no content."""
        for content_type, media in (node.get("content") or {}).items():
            out = {"contentType": content_type}
            if "schema" in media:
                out["schema"] = self.schema(media["schema"])
            return out
        return {}

    def request_body(self, node):
        if node is None:
            return None
        if "$ref" in node:
            target, fragment = self.split_ref(node["$ref"])
            if target is None or target == f"{self.module}.json":
                return self.request_body(self.local(fragment))
            return {"$external": node["$ref"]}
        out = {"required": bool(node.get("required", False))}
        out.update(self.content(node))
        return out

    def response(self, node):
        if "$ref" in node:
            target, fragment = self.split_ref(node["$ref"])
            if target is not None and self.is_common(target):
                return {"$commonResponse": fragment.rsplit("/", 1)[1]}
            if target is None or target == f"{self.module}.json":
                return self.response(self.local(fragment))
            return {"$external": node["$ref"]}
        return self.content(node)

    def operations(self):
        out = []
        for path, item in (self.doc.get("paths") or {}).items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method not in METHODS:
                    continue
                scopes = []
                for requirement in op.get("security", []):
                    for names in requirement.values():
                        scopes.extend(n for n in names if n not in scopes)
                out.append({
                    "operationId": op.get("operationId", f"{method}{path}"),
                    "method": method.upper(),
                    "path": path,
                    "tags": op.get("tags", []),
                    "scopes": scopes,
                    "parameters": [self.parameter(p) for p in shared + op.get("parameters", [])],
                    "requestBody": self.request_body(op.get("requestBody")),
                    "responses": {
                        code: self.response(r) for code, r in (op.get("responses") or {}).items()
                    },
                })
        return out

    def drain_shapes(self):
        """Converts every same-file schema reached so far (and what those reach), sorted by name."""
        while self.pending:
            name = self.pending.pop(0)
            self.shapes[name] = None  # reserve: a recursive shape refers to itself by name
            self.shapes[name] = self.schema(self.local(f"#/components/schemas/{name}"))
        return {k: self.shapes[k] for k in sorted(self.shapes)}


def extract(module, doc, source, notes):
    ex = Extractor(module, doc)
    out = {"module": module, "source": source, "operations": ex.operations()}
    if module == "Common":
        components = doc.get("components", {})
        out["parameters"] = {
            k: ex.parameter(v) for k, v in components.get("parameters", {}).items()
        }
        out["responses"] = {k: ex.response(v) for k, v in components.get("responses", {}).items()}
        for name in components.get("schemas", {}):
            if name not in ex.pending:
                ex.pending.append(name)
    out["shapes"] = ex.drain_shapes()
    out["notes"] = notes
    return out


def commit_of(src, file_name):
    try:
        result = subprocess.run(
            ["git", "-C", src, "log", "-1", "--format=%H", "--", file_name],
            capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", required=True, help="the v1.0 folder of a zohodesk-oas clone")
    parser.add_argument("--out", required=True, help="where the extract files go")
    parser.add_argument("--commit", help="the commit the files were read at (default: git log)")
    parser.add_argument("modules", nargs="*", help="module names (default: every file in --src)")
    args = parser.parse_args(argv)

    modules = args.modules or sorted(
        f[:-5] for f in os.listdir(args.src) if f.endswith(".json")
    )
    os.makedirs(args.out, exist_ok=True)
    for module in modules:
        path = os.path.join(args.src, f"{module}.json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"extract.py: cannot read {path}: {e}", file=sys.stderr)
            return 1
        commit = args.commit or commit_of(args.src, f"{module}.json")
        if not commit:
            print(f"extract.py: no commit for {module}; pass --commit", file=sys.stderr)
            return 1
        target = os.path.join(args.out, f"{module}.json")
        notes = []
        if os.path.exists(target):
            with open(target, encoding="utf-8") as f:
                notes = json.load(f).get("notes", [])
        source = {"repo": "zoho/zohodesk-oas", "path": f"v1.0/{module}.json", "commit": commit}
        result = extract(module, doc, source, notes)
        with open(target, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
