#!/usr/bin/env python3
"""A Kubernetes API server stand-in for etcd-monitor's tests.

    kube_apiserver.py [--port 0] [--port-file PATH] [--namespace NS]...
                      [--default-field-validation Strict|Warn|Ignore]

No real Kubernetes API server can run on the test machines, yet the operator
(kube-rs) and the user's `kubectl` talk to one. This serves, over plain HTTP on
127.0.0.1, the subset of the API they use, in the real wire format (JSON
objects, `Status` errors, chunked watch streams, `Table`s), so that tests can
check both against the real `kubectl`:

- generic storage of objects with a global resourceVersion, for core/v1 pods,
  services, secrets, configmaps, endpoints, events, serviceaccounts and
  namespaces; coordination.k8s.io/v1 leases; discovery.k8s.io/v1
  endpointslices; events.k8s.io/v1 events (the same events as core/v1, converted,
  as the real server keeps them); apiextensions.k8s.io/v1
  customresourcedefinitions, and every resource a stored CRD defines (validated
  against its schema, defaulted, with its /status subresource);
- get, list, watch (bookmarks, timeoutSeconds, 410 Expired after a compaction),
  create, update (resourceVersion preconditions), patch (JSON merge, JSON patch,
  strategic merge for built-in types, server-side apply of a single manager),
  delete (finalizers), deletecollection; label and field selectors;
- discovery (legacy, not aggregated), /version, the OpenAPI v3 documents
  kubectl reads to learn that the server validates fields itself, and the
  OpenAPI v2 document (JSON, or protobuf as kubectl asks for it) that kubectl
  before 1.25 validates objects against, and that kubectl takes the patch
  strategies of built-in types from;
- Tables (`kubectl get`), with CRD printer columns, and PartialObjectMetadata.

Test controls, not Kubernetes API:
    POST /_test/compact  every resourceVersion issued so far expires, open
                         watches end, new watches wait for /_test/release
    POST /_test/release  the held watches proceed (and get 410 if expired)
    GET  /_test/stats    {"expired_410", "lists", "watches", "requests",
                          "verbs_by_token": {token: {"verb group resource": n}},
                          "status_writes_by_token": {token: n}, ...}
                         (the bearer token tells the clients apart: which
                         RBAC verbs each used, which replica wrote status)

What differs from a real server is listed in `DIFFERENCES` below.
"""

import argparse
import base64
import bisect
import copy
import hashlib
import json
import os
import random
import re
import select
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jsonschema

# The CRD schema is made strict as tests/support/validate_crd.py does it (no
# __pycache__ left in the source tree by the import).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate_crd import strict  # noqa: E402

DIFFERENCES = """
- No authentication or authorization: any bearer token (or none) is accepted.
- Requests are JSON, except the protobuf bodies of `kubectl create namespace|
  configmap|secret|serviceaccount|service`; responses are JSON (clients that
  accept protobuf also accept JSON), but for /openapi/v2's protobuf form. Other
  protobuf or YAML bodies: 415.
- Unknown fields are refused (400, strict decoding error) unless the request
  says fieldValidation=Warn or Ignore: the real server's default is Warn (it
  drops them with a Warning header). --default-field-validation changes this.
- No managedFields; server-side apply has one manager's semantics: /status
  takes the applied status whole, the main resource merges the applied object
  (fields left out of a later apply are not removed).
- Built-in types are stored as given: no defaulting beyond a pod's Pending
  phase and a namespace's Active one, no validation beyond names, no clusterIP
  allocation, pod lifecycle, garbage collection, admission or quotas.
- Deleting a namespace or a CRD deletes its objects at once (no Terminating).
- limit/continue pages are cut from the current state, not a snapshot.
- Bookmarks come after 1 s without events (the real server: about a minute).
- No aggregated discovery (clients fall back to /api and /apis).
- OpenAPI describes a CRD's kinds as the real server does, built-in types
  less: the v3 documents as free-form objects without their group-version-kind
  (so kubectl takes nothing from them); the v2 document describes only the
  built-in kinds served here, each struct on the way to a list that merges by
  key with all its fields, their types, required fields and patch strategies
  (so kubectl validates those and computes the same strategic merge patches),
  and leaves the fields below untyped (kubectl's validation lets any value
  through there), with few descriptions.
"""

VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATION_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

# ObjectMeta's fields in the order the real server writes them: any other field
# under metadata is unknown.
OBJECT_META_FIELDS = [
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
]

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
PRESET_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


# --- Time -------------------------------------------------------------------


def rfc3339(t=None):
    """`2026-12-04T23:59:01Z`: metav1.Time's form (whole seconds, UTC)."""
    return datetime.fromtimestamp(time.time() if t is None else t, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 time, or None."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration: what AGE columns show."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp):
    """A `date` cell: the human duration since an RFC 3339 time."""
    if not isinstance(timestamp, str):
        return None
    t = parse_time(timestamp)
    return "<invalid>" if t is None else human_duration(time.time() - t)


# --- Errors -----------------------------------------------------------------


class ApiError(Exception):
    """An error the server answers with a `Status` object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message}
        if self.reason:
            st["reason"] = self.reason
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def not_found(rt, name):
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def conflict(rt, name, why="the object has been modified; please apply your changes to the "
             "latest version and try again"):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def invalid(rt, name, causes):
    """422 as the real server words it: `Kind.group "name" is invalid: field: msg`."""
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified_kind = rt.kind if not rt.group else f"{rt.kind}.{rt.group}"
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {listed}',
                    {"name": name, "group": rt.group, "kind": rt.kind, "causes": causes})


# --- Patches ----------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, tokens, path):
    for t in tokens:
        if isinstance(doc, dict) and t in doc:
            doc = doc[t]
        elif isinstance(doc, list) and t.isdigit() and int(t) < len(doc):
            doc = doc[int(t)]
        else:
            raise ApiError(422, "Invalid", f"path {path!r} does not exist")
    return doc


def _add(doc, tokens, value, path):
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        i = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= i <= len(parent):
            raise ApiError(422, "Invalid", f"index out of range in {path!r}")
        parent.insert(i, value)
    else:
        raise ApiError(422, "Invalid", f"path {path!r} does not exist")
    return doc


def _remove(doc, tokens, path):
    if not tokens:
        raise ApiError(422, "Invalid", "cannot remove the whole document")
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ApiError(422, "Invalid", f"path {path!r} does not exist")


def json_patch(doc, ops):
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        tokens = _pointer(path)
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")), path)
        elif kind == "remove":
            _remove(doc, tokens, path)
        elif kind == "replace":
            _walk(doc, tokens, path)
            if tokens:
                _remove(doc, tokens, path)
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")), path)
        elif kind in ("move", "copy"):
            src = op.get("from", "")
            value = copy.deepcopy(_walk(doc, _pointer(src), src))
            if kind == "move":
                _remove(doc, _pointer(src), src)
            doc = _add(doc, tokens, value, path)
        elif kind == "test":
            if _walk(doc, tokens, path) != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value {path} failed: test failed")
        else:
            raise ApiError(422, "Invalid", f"Unexpected kind: {kind}")
    return doc


# Strategic merge patch: the merge keys of the built-in lists it merges by key.
MERGE_KEYS = {
    "containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"],
    "env": ["name"], "volumes": ["name"], "imagePullSecrets": ["name"],
    "volumeMounts": ["mountPath"], "volumeDevices": ["devicePath"],
    "ports": ["containerPort", "port"], "conditions": ["type"], "ownerReferences": ["uid"],
    "hostAliases": ["ip"], "topologySpreadConstraints": ["topologyKey"],
    "resourceClaims": ["name"], "schedulingGates": ["name"],
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}


def strategic_merge_patch(target, patch):
    """A strategic merge patch on a built-in object: a merge patch whose lists
    named in MERGE_KEYS merge by key, and whose $-directives are obeyed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                result.pop(k, None)
            else:
                result[k] = strategic_merge_patch(result.get(k), v)
        elif isinstance(v, list) and isinstance(result.get(k), list):
            result[k] = _merge_list(result[k], v, k)
        else:
            result[k] = copy.deepcopy(v)
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _merge_list(current, patch, field):
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [e for e in patch if not (isinstance(e, dict) and "$patch" in e)]
    if field in PRIMITIVE_MERGE_LISTS:
        return current + [e for e in patch if e not in current]
    keys = MERGE_KEYS.get(field)
    if not keys or not all(isinstance(e, dict) for e in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(e) for e in current]
    for elem in patch:
        key = next((k for k in keys if k in elem), None)
        if key is None:
            result.append(copy.deepcopy(elem))
            continue
        at = next((i for i, e in enumerate(result)
                   if isinstance(e, dict) and e.get(key) == elem[key]), None)
        if elem.get("$patch") == "delete":
            if at is not None:
                result.pop(at)
        elif at is None:
            result.append(strategic_merge_patch({}, elem))
        else:
            result[at] = strategic_merge_patch(result[at], elem)
    return result


# --- Protobuf ---------------------------------------------------------------
#
# kubectl's typed `create namespace|configmap|secret|serviceaccount|service`
# send protobuf (application/vnd.kubernetes.protobuf): the magic "k8s\0", then a
# runtime.Unknown {1 typeMeta {1 apiVersion, 2 kind}, 2 raw}, raw being the
# object's message as k8s.io/api's generated.proto numbers its fields. These
# tables decode those kinds; gogo-protobuf writes empty fields, which JSON's
# omitempty leaves out, so empty values are dropped.

PB_TIME = {1: ("seconds", "int"), 2: ("nanos", "int")}
PB_INT_OR_STRING = {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")}
PB_OWNER = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
            6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
PB_META = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
           4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
           7: ("generation", "int"), 8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
           10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map"), 12: ("annotations", "map"),
           13: ("ownerReferences", "list", PB_OWNER), 14: ("finalizers", "strings"),
           17: ("managedFields", "skip")}
PB_OBJREF = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
             5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")}
PB_SERVICE_PORT = {1: ("name", "string"), 2: ("protocol", "string"), 3: ("port", "int"),
                   4: ("targetPort", "intstr"), 5: ("nodePort", "int"), 6: ("appProtocol", "string")}
PB_SERVICE_SPEC = {1: ("ports", "list", PB_SERVICE_PORT), 2: ("selector", "map"), 3: ("clusterIP", "string"),
                   4: ("type", "string"), 5: ("externalIPs", "strings"), 7: ("sessionAffinity", "string"),
                   8: ("loadBalancerIP", "string"), 9: ("loadBalancerSourceRanges", "strings"),
                   10: ("externalName", "string"), 11: ("externalTrafficPolicy", "string"),
                   12: ("healthCheckNodePort", "int"), 13: ("publishNotReadyAddresses", "bool"),
                   14: ("sessionAffinityConfig", "skip"), 17: ("ipFamilyPolicy", "string"),
                   18: ("clusterIPs", "strings"), 19: ("ipFamilies", "strings"),
                   20: ("allocateLoadBalancerNodePorts", "bool"), 21: ("loadBalancerClass", "string"),
                   22: ("internalTrafficPolicy", "string"), 23: ("trafficDistribution", "string")}
PB_KINDS = {
    "Namespace": {1: ("metadata", "msg", PB_META), 2: ("spec", "msg", {1: ("finalizers", "strings")}),
                  3: ("status", "skip")},
    "ConfigMap": {1: ("metadata", "msg", PB_META), 2: ("data", "map"), 3: ("binaryData", "bytesmap"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", "msg", PB_META), 2: ("data", "bytesmap"), 3: ("type", "string"),
               4: ("stringData", "map"), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", "msg", PB_META), 2: ("secrets", "list", PB_OBJREF),
                       3: ("imagePullSecrets", "list", {1: ("name", "string")}),
                       4: ("automountServiceAccountToken", "bool")},
    "Service": {1: ("metadata", "msg", PB_META), 2: ("spec", "msg", PB_SERVICE_SPEC), 3: ("status", "skip")},
}


def _pb_fields(data):
    """(field number, wire type, value) of a protobuf message."""
    i = 0

    def varint():
        nonlocal i
        result = shift = 0
        while True:
            b = data[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 2:
            n = varint()
            yield number, wire, data[i:i + n]
            i += n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            yield number, wire, data[i:i + n]
            i += n
        else:
            raise ValueError(f"wire type {wire}")


def _pb_message(data, table, where):
    out = {}
    for number, wire, value in _pb_fields(data):
        if number not in table:
            raise ValueError(f"field {number} of {where} is not known to this stand-in")
        name, kind = table[number][:2]
        if kind == "skip":
            continue
        if kind == "string":
            value = value.decode()
        elif kind == "int":
            value = value - (1 << 64) if value >= 1 << 63 else value
        elif kind == "bool":
            value = bool(value)
        elif kind == "time":
            t = _pb_message(value, PB_TIME, "Time")
            value = rfc3339(t["seconds"]) if t.get("seconds") else None
        elif kind == "intstr":
            v = _pb_message(value, PB_INT_OR_STRING, "IntOrString")
            value = v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)
        elif kind in ("map", "bytesmap"):
            entry = dict((n, v) for n, _, v in _pb_fields(value))
            v = entry.get(2, b"")
            out.setdefault(name, {})[entry.get(1, b"").decode()] = \
                base64.b64encode(v).decode() if kind == "bytesmap" else v.decode()
            continue
        elif kind == "strings":
            out.setdefault(name, []).append(value.decode())
            continue
        elif kind == "list":
            out.setdefault(name, []).append(_pb_message(value, table[number][2], name))
            continue
        elif kind == "msg":
            value = _pb_message(value, table[number][2], name)
        if value not in ("", 0, False, None, {}) or kind == "intstr":
            out[name] = value
    return out


def decode_protobuf(raw):
    """A protobuf request body of a kind in PB_KINDS, as its JSON object."""
    if raw[:4] != b"k8s\x00":
        raise bad_request("the protobuf body does not begin with the k8s magic")
    try:
        envelope = {n: v for n, _, v in _pb_fields(raw[4:])}
        type_meta = {n: v.decode() for n, _, v in _pb_fields(envelope.get(1, b""))}
        api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
        if kind not in PB_KINDS:
            raise unsupported_media("application/vnd.kubernetes.protobuf")
        obj = _pb_message(envelope.get(2, b""), PB_KINDS[kind], kind)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise ApiError(415, "UnsupportedMediaType", f"this stand-in cannot decode the protobuf body: {e}", {})
    return {"apiVersion": api_version, "kind": kind, **obj}


# --- Selectors --------------------------------------------------------------


def _split_terms(text):
    """Splits a selector on the commas outside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(text):
    """Requirements (key, op, values): =, ==, !=, in, notin, exists, !exists."""
    reqs = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(r"([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            reqs.append((m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}))
            continue
        m = re.fullmatch(r"([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)", term)
        if m:
            reqs.append((m[1], "=" if m[2] == "==" else m[2], m[3]))
            continue
        m = re.fullmatch(r"(!?)\s*([A-Za-z0-9._/-]+)", term)
        if m:
            reqs.append((m[2], "!" if m[1] else "exists", None))
            continue
        raise bad_request(f"unable to parse requirement: {term!r}")
    return reqs


def labels_match(reqs, obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, val in reqs:
        present = key in labels
        if op == "=" and not (present and labels[key] == val):
            return False
        if op == "!=" and present and labels[key] == val:
            return False
        if op == "in" and not (present and labels[key] in val):
            return False
        if op == "notin" and present and labels[key] in val:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text, rt):
    reqs = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", term)
        if not m:
            raise bad_request(f"invalid selector: {term!r}; can't understand {term!r}")
        key = rt.field_alias.get(m[1], m[1])
        if key not in ("metadata.name", "metadata.namespace") and key not in rt.field_labels:
            raise bad_request(f'field label not supported: {m[1]}')
        reqs.append((key, "!=" if m[2] == "!=" else "=", m[3]))
    return reqs


def field_value(obj, key):
    """A field label's value: the dotted path's value as a string, "" if absent."""
    v = obj
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def fields_match(reqs, obj, rt):
    for key, op, val in reqs:
        actual = field_value(obj, rt.field_labels.get(key, key))
        if (actual == val) != (op == "="):
            return False
    return True


# --- Custom resource schemas ------------------------------------------------


def _int_or_string(schema):
    """x-kubernetes-int-or-string: accept an integer or a string."""
    if isinstance(schema, dict):
        schema = {k: _int_or_string(v) for k, v in schema.items()}
        if schema.get("x-kubernetes-int-or-string") and "type" not in schema:
            schema["type"] = ["integer", "string"]
        return schema
    if isinstance(schema, list):
        return [_int_or_string(s) for s in schema]
    return schema


def _k8s_path(parts):
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _go_value(v):
    """A value as the API server prints it in a field error."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "null"
    return '"object"' if isinstance(v, dict) else '"array"'


def _json_type(v):
    return {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object",
            list: "array", type(None): "null"}[type(v)]


class CrSchema:
    """A CRD version's openAPIV3Schema: pruning (unknown fields), defaulting and
    validation as the API server does them."""

    def __init__(self, schema):
        self.raw = schema
        checked = _int_or_string(strict(copy.deepcopy(schema)))
        checked.setdefault("type", "object")
        checked.setdefault("properties", {})
        checked["properties"]["apiVersion"] = {"type": "string"}
        checked["properties"]["kind"] = {"type": "string"}
        checked["properties"]["metadata"] = {"type": "object"}
        self.validator = jsonschema.Draft7Validator(checked)

    def unknown_fields(self, obj):
        """The paths of the fields the schema does not declare (which the real
        server prunes, or refuses with fieldValidation=Strict)."""
        found = []
        for k, v in obj.items():
            if k == "metadata" and isinstance(v, dict):
                found += [f"metadata.{m}" for m in v if m not in OBJECT_META_FIELDS]
            elif k not in ("apiVersion", "kind"):
                sub = (self.raw.get("properties") or {}).get(k)
                if sub is None and not self.raw.get("x-kubernetes-preserve-unknown-fields"):
                    found.append(k)
                elif sub is not None:
                    self._unknown(v, sub, [k], found)
        return found

    def _unknown(self, value, schema, path, found):
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            addl = schema.get("additionalProperties")
            for k, v in value.items():
                if k in props:
                    self._unknown(v, props[k], path + [k], found)
                elif isinstance(addl, dict):
                    self._unknown(v, addl, path + [k], found)
                elif not (addl is True or schema.get("x-kubernetes-preserve-unknown-fields")):
                    found.append(_k8s_path(path + [k]))
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                self._unknown(v, schema["items"], path + [i], found)

    def prune(self, obj, paths):
        for p in paths:
            parts = re.findall(r"[^.\[\]]+", p)
            parent = obj
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent.get(part, {})
            if isinstance(parent, dict):
                parent.pop(parts[-1], None)

    def default(self, obj):
        """Structural defaulting: defaults where fields are absent, and nulls of
        non-nullable fields dropped (or defaulted)."""
        for k, sub in (self.raw.get("properties") or {}).items():
            if k not in ("apiVersion", "kind", "metadata"):
                self._default_field(obj, k, sub)

    def _default_field(self, parent, key, schema):
        if key in parent and parent[key] is None and not schema.get("nullable"):
            del parent[key]
        if key not in parent and "default" in schema:
            parent[key] = copy.deepcopy(schema["default"])
        if key in parent:
            self._default_value(parent[key], schema)

    def _default_value(self, value, schema):
        if isinstance(value, dict):
            for k, sub in (schema.get("properties") or {}).items():
                self._default_field(value, k, sub)
            if isinstance(schema.get("additionalProperties"), dict):
                for v in value.values():
                    self._default_value(v, schema["additionalProperties"])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for v in value:
                self._default_value(v, schema["items"])

    def causes(self, obj):
        """The schema's refusals as StatusCauses, worded like the real server's."""
        out = []
        errors = sorted(self.validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        for e in errors:
            field = _k8s_path(list(e.absolute_path))
            inst, v, n = e.instance, e.validator, e.validator_value
            where = field or "<root>"
            if v == "required":
                missing = re.search(r"'(.*)' is a required property", e.message)
                name = missing[1] if missing else "?"
                out.append(("FieldValueRequired", "Required value",
                            f"{field}.{name}" if field else name))
                continue
            if v == "enum":
                allowed = ", ".join(json.dumps(x) for x in n)
                out.append(("FieldValueNotSupported",
                            f"Unsupported value: {_go_value(inst)}: supported values: {allowed}", field))
            elif v == "type":
                want = n if isinstance(n, str) else "/".join(t for t in n if t != "null")
                got = _json_type(inst)
                out.append(("FieldValueTypeInvalid",
                            f'Invalid value: "{got}": {where} in body must be of type {want}: "{got}"',
                            field))
            elif v == "minItems":
                out.append(("FieldValueInvalid",
                            f"Invalid value: {len(inst)}: {where} in body should have at least {n} items",
                            field))
            elif v == "maxItems":
                out.append(("FieldValueTooMany", f"Too many: {len(inst)}: must have at most {n} items",
                            field))
            elif v == "minLength":
                out.append(("FieldValueInvalid",
                            f"Invalid value: {_go_value(inst)}: {where} in body should be at least {n} chars long",
                            field))
            elif v == "maxLength":
                out.append(("FieldValueTooLong", f"Too long: may not be more than {n} bytes", field))
            elif v in ("minimum", "maximum"):
                rel = "greater" if v == "minimum" else "less"
                out.append(("FieldValueInvalid", f"Invalid value: {_go_value(inst)}: {where} in body should be "
                            f"{rel} than or equal to {_go_value(n)}", field))
            elif v in ("minProperties", "maxProperties"):
                rel = "at least" if v == "minProperties" else "at most"
                out.append(("FieldValueInvalid",
                            f"Invalid value: {len(inst)}: {where} in body should have {rel} {n} properties",
                            field))
            elif v == "oneOf":
                found = "more than one" if "valid under each of" in e.message else "none"
                out.append(("FieldValueInvalid",
                            f'Invalid value: "object": {where} in body must validate one and only one '
                            f"schema (oneOf). Found {found} valid", field))
            elif v == "additionalProperties":
                for k in sorted(set(inst) - set(e.schema.get("properties") or {})):
                    out.append(("FieldValueInvalid", f'Invalid value: "{k}": field not declared in schema',
                                f"{field}.{k}" if field else k))
            else:
                out.append(("FieldValueInvalid", f"Invalid value: {_go_value(inst)}: {e.message}", field))
        return [{"reason": r, "message": m, "field": f} for r, m, f in out]


# --- Resource types -----------------------------------------------------------


class RType:
    """A served resource: where it is (group, version, plural), what it is, and
    how its objects are stored, shown and checked."""

    def __init__(self, group, version, plural, kind, namespaced=True, short_names=(),
                 categories=(), status=False, field_labels=None, columns=None, storage=None,
                 schema_prefix=None, singular=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status = namespaced, status
        self.short_names, self.categories = list(short_names), list(categories)
        self.singular = singular or kind.lower()
        self.list_kind = kind + "List"
        self.field_labels = field_labels or {}
        self.field_alias = {}
        self.columns = columns or AGE_COLUMNS
        self.storage = storage or (group, plural)
        self.schema_prefix = schema_prefix
        self.crd = None
        self.schema = None

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def schema_name(self):
        if self.crd is not None:
            return ".".join(reversed(self.group.split("."))) + f".{self.version}.{self.kind}"
        return f"{self.schema_prefix}.{self.version}.{self.kind}"

    def to_external(self, obj):
        """The stored object as this version serves it."""
        out = copy.deepcopy(obj)
        out.pop("apiVersion", None)
        out.pop("kind", None)
        meta = out.pop("metadata", {})
        meta = {k: meta[k] for k in OBJECT_META_FIELDS if k in meta}
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta, **out}

    def to_internal(self, obj):
        return obj


# Table columns: (name, type, format, priority, cell function, description).
def _col(name, fn, typ="string", fmt="", priority=0, description=""):
    return (name, typ, fmt, priority, fn, description)


NAME_COLUMN = _col("Name", lambda o: o["metadata"].get("name"), fmt="name", description=NAME_DESCRIPTION)
AGE_COLUMN = _col("Age", lambda o: age(o["metadata"].get("creationTimestamp")),
                  description=CREATION_DESCRIPTION)
AGE_COLUMNS = [NAME_COLUMN, AGE_COLUMN]


def _event_last_seen(e):
    last = e.get("lastTimestamp") or (e.get("series") or {}).get("lastObservedTime") or e.get("eventTime")
    return age(last) if last else "<unknown>"


def _pod_ready(p):
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    total = len((p.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _ports(svc):
    ports = (svc.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _endpoints(ep):
    addrs = [f"{a.get('ip')}:{p.get('port')}" for s in ep.get("subsets") or []
             for a in s.get("addresses") or [] for p in s.get("ports") or [{}]]
    return ",".join(addrs) or "<none>"


BUILTIN_COLUMNS = {
    "namespaces": [NAME_COLUMN, _col("Status", lambda o: (o.get("status") or {}).get("phase")), AGE_COLUMN],
    "pods": [NAME_COLUMN, _col("Ready", _pod_ready),
             _col("Status", lambda o: (o.get("status") or {}).get("phase")),
             _col("Restarts", lambda o: sum(s.get("restartCount", 0) for s in
                                            (o.get("status") or {}).get("containerStatuses") or []),
                  typ="string"), AGE_COLUMN],
    "services": [NAME_COLUMN, _col("Type", lambda o: (o.get("spec") or {}).get("type", "ClusterIP")),
                 _col("Cluster-IP", lambda o: (o.get("spec") or {}).get("clusterIP", "<none>")),
                 _col("External-IP", lambda o: ",".join((o.get("spec") or {}).get("externalIPs") or [])
                      or "<none>"),
                 _col("Port(s)", _ports), AGE_COLUMN],
    "secrets": [NAME_COLUMN, _col("Type", lambda o: o.get("type", "Opaque")),
                _col("Data", lambda o: len(o.get("data") or {}), typ="integer"), AGE_COLUMN],
    "configmaps": [NAME_COLUMN, _col("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                     typ="integer"), AGE_COLUMN],
    "endpoints": [NAME_COLUMN, _col("Endpoints", _endpoints), AGE_COLUMN],
    "endpointslices": [NAME_COLUMN, _col("AddressType", lambda o: o.get("addressType")),
                       _col("Ports", lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or [])
                            or "<unset>"),
                       _col("Endpoints", lambda o: ",".join(a for e in o.get("endpoints") or []
                                                            for a in e.get("addresses") or []) or "<unset>"),
                       AGE_COLUMN],
    "leases": [NAME_COLUMN, _col("Holder", lambda o: (o.get("spec") or {}).get("holderIdentity", "")),
               AGE_COLUMN],
    "events": [_col("Last Seen", _event_last_seen), _col("Type", lambda o: o.get("type")),
               _col("Reason", lambda o: o.get("reason")),
               _col("Object", lambda o: f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/"
                                        f"{(o.get('involvedObject') or {}).get('name', '')}"),
               _col("Subobject", lambda o: (o.get("involvedObject") or {}).get("fieldPath", ""), priority=1),
               _col("Source", lambda o: (o.get("source") or {}).get("component")
                    or o.get("reportingComponent", ""), priority=1),
               _col("Message", lambda o: (o.get("message") or "").strip()),
               _col("First Seen", lambda o: age(o.get("firstTimestamp")) or "<unknown>", priority=1),
               _col("Count", lambda o: str(o.get("count") or (o.get("series") or {}).get("count") or 1),
                    priority=1),
               _col("Name", lambda o: o["metadata"].get("name"), fmt="name", priority=1)],
    "customresourcedefinitions": [NAME_COLUMN, _col("Created At", lambda o: o["metadata"].get(
        "creationTimestamp"), typ="date", description=CREATION_DESCRIPTION)],
}

EVENT_FIELDS = {k: k for k in (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "type")}
EVENT_FIELDS["source"] = "source.component"
POD_FIELDS = {k: k for k in ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                             "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                             "status.podIP", "status.nominatedNodeName")}


# events.k8s.io/v1 Event <-> core v1 Event: one storage, two versions, as in the
# real server (pkg/apis/events/v1 conversion).
EVENT_RENAMES = [("regarding", "involvedObject"), ("note", "message"),
                 ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
                 ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
                 ("reportingController", "reportingComponent")]


class EventsV1(RType):
    def to_external(self, obj):
        out = RType.to_external(self, obj)
        for new, old in EVENT_RENAMES:
            if old in out:
                out[new] = out.pop(old)
        return out

    def to_internal(self, obj):
        out = copy.deepcopy(obj)
        for new, old in EVENT_RENAMES:
            if new in out:
                out[old] = out.pop(new)
        out["apiVersion"], out["kind"] = "v1", "Event"
        return out


def builtin_types():
    core = dict(group="", version="v1", schema_prefix="io.k8s.api.core")
    types = [
        RType(plural="namespaces", kind="Namespace", namespaced=False, short_names=["ns"],
              status=True, field_labels={"status.phase": "status.phase"}, **core),
        RType(plural="pods", kind="Pod", short_names=["po"], categories=["all"], status=True,
              field_labels=POD_FIELDS, **core),
        RType(plural="services", kind="Service", short_names=["svc"], categories=["all"], status=True, **core),
        RType(plural="secrets", kind="Secret", field_labels={"type": "type"}, **core),
        RType(plural="configmaps", kind="ConfigMap", short_names=["cm"], **core),
        RType(plural="endpoints", kind="Endpoints", short_names=["ep"], singular="endpoints", **core),
        RType(plural="events", kind="Event", short_names=["ev"], field_labels=EVENT_FIELDS, **core),
        RType(plural="serviceaccounts", kind="ServiceAccount", short_names=["sa"], **core),
        RType("coordination.k8s.io", "v1", "leases", "Lease", schema_prefix="io.k8s.api.coordination"),
        RType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
              schema_prefix="io.k8s.api.discovery"),
        RType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
              namespaced=False, short_names=["crd", "crds"], categories=["api-extensions"], status=True,
              schema_prefix="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"),
    ]
    ev = EventsV1("events.k8s.io", "v1", "events", "Event", short_names=["ev"], storage=("", "events"),
                  field_labels=EVENT_FIELDS, schema_prefix="io.k8s.api.events")
    ev.field_alias = {"regarding." + k.split(".", 1)[1]: k
                      for k in EVENT_FIELDS if k.startswith("involvedObject.")}
    ev.field_alias["reportingController"] = "reportingComponent"
    types.append(ev)
    for rt in types:
        rt.columns = BUILTIN_COLUMNS.get(rt.plural, AGE_COLUMNS)
    return types


def _cell_path(obj, path):
    """A printer column's simple JSONPath (`.status.phase`, `.a[0].b`)."""
    v = obj
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path or ""):
        if part[0]:
            if not isinstance(v, dict) or part[0] not in v:
                return None
            v = v[part[0]]
        else:
            i = int(part[1])
            if not isinstance(v, list) or i >= len(v):
                return None
            v = v[i]
    return v


def _printer_cell(typ, path):
    """The cell the apiextensions table convertor makes of a column's value."""
    def cell(obj):
        v = _cell_path(obj, path)
        if v is None:
            return None
        if typ == "string":
            return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) \
                else _go_value(v).strip('"')
        if typ == "integer" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(v)
        if typ == "number" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if typ == "boolean" and isinstance(v, bool):
            return v
        if typ == "date" and isinstance(v, str):
            return age(v)
        return None
    return cell


def crd_types(crd):
    """The resources a CRD serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        rt = RType(spec["group"], ver["name"], names["plural"], names["kind"],
                   namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                   short_names=names.get("shortNames") or [], categories=names.get("categories") or [],
                   status="status" in (ver.get("subresources") or {}),
                   singular=names.get("singular"))
        rt.list_kind = names.get("listKind") or rt.kind + "List"
        rt.crd = crd
        schema = (ver.get("schema") or {}).get("openAPIV3Schema")
        rt.schema = CrSchema(schema) if schema else None
        printer = ver.get("additionalPrinterColumns") or [
            {"name": "Age", "type": "date", "description": CREATION_DESCRIPTION,
             "jsonPath": ".metadata.creationTimestamp"}]
        rt.columns = [NAME_COLUMN] + [
            _col(c["name"], _printer_cell(c.get("type", "string"), c.get("jsonPath")),
                 typ=c.get("type", "string"), fmt=c.get("format", ""), priority=c.get("priority", 0),
                 description=c.get("description", ""))
            for c in printer]
        for f in ver.get("selectableFields") or []:
            path = f["jsonPath"].lstrip(".")
            rt.field_labels[path] = path
        out.append(rt)
    return out


def version_priority(v):
    """Kubernetes' version order: GA before beta before alpha, higher first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0, v)
    level = {None: 0, "beta": 1, "alpha": 2}[m[2]]
    return (level, -int(m[1]), -int(m[3] or 0), v)


# --- Storage ----------------------------------------------------------------


class Store:
    """Every object, the resourceVersion counter and the watch history, under
    one lock; the condition wakes watchers."""

    def __init__(self, namespaces, default_field_validation):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objects = {}  # storage key -> {(namespace or None, name): object}
        self.history = []  # (rv, type, storage key, object, previous object)
        self.history_rvs = []  # the history's resourceVersions, to find where a watch resumes
        self.compacted = 0  # resourceVersions below this are expired
        self.epoch = 0  # bumped by a compaction: open watches end
        self.hold = False  # new watches wait while set
        self.default_field_validation = default_field_validation
        self.builtins = builtin_types()
        self.types = {}
        self.stats = {"expired_410": 0, "lists": {}, "watches": {}, "requests": 0,
                      "watches_open": 0, "compactions": 0, "verbs_by_token": {},
                      "status_writes_by_token": {}}
        self.rebuild_types()
        ns_type = self.find("", "v1", "namespaces")
        with self.cond:
            for ns in PRESET_NAMESPACES + [n for n in namespaces if n not in PRESET_NAMESPACES]:
                self.create(ns_type, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                            {})

    # Types

    def rebuild_types(self):
        types = {(rt.group, rt.version, rt.plural): rt for rt in self.builtins}
        builtin_storage = {rt.storage for rt in self.builtins}
        for crd in self.objects.get(CRD_KEY, {}).values():
            for rt in crd_types(crd):
                if rt.storage not in builtin_storage:
                    types[(rt.group, rt.version, rt.plural)] = rt
        self.types = types

    def find(self, group, version, plural):
        return self.types.get((group, version, plural))

    def group_versions(self):
        """{group: [versions, preferred first]}, built-in groups first."""
        groups = {}
        for rt in self.types.values():
            groups.setdefault(rt.group, set()).add(rt.version)
        return {g: sorted(vs, key=version_priority) for g, vs in groups.items()}

    # Reads

    def bucket(self, rt):
        return self.objects.setdefault(rt.storage, {})

    def get(self, rt, ns, name):
        obj = self.bucket(rt).get((ns if rt.namespaced else None, name))
        if obj is None:
            raise not_found(rt, name)
        return obj

    def select(self, rt, ns, labels, fields):
        items = [o for (ons, _), o in self.bucket(rt).items()
                 if (ns is None or ons == ns) and labels_match(labels, o) and fields_match(fields, o, rt)]
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    # Writes

    def commit(self, rt, obj, etype, prev):
        """Stores a change under a new resourceVersion and tells the watchers."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace") if rt.namespaced else None, obj["metadata"]["name"])
        if etype == "DELETED":
            self.bucket(rt).pop(key, None)
        else:
            self.bucket(rt)[key] = obj
        self.history.append((self.rv, etype, rt.storage, copy.deepcopy(obj), copy.deepcopy(prev)))
        self.history_rvs.append(self.rv)
        if rt.storage == CRD_KEY:
            self.rebuild_types()
        self.cond.notify_all()
        return obj

    def check_fields(self, rt, obj, query, name):
        """Prunes or refuses unknown fields, defaults, and validates a custom
        resource; returns the warnings for fieldValidation=Warn."""
        if rt.schema is None:
            return []
        mode = query.get("fieldValidation") or self.default_field_validation
        unknown = rt.schema.unknown_fields(obj)
        warnings = []
        if unknown:
            if mode == "Strict":
                listed = ", ".join(f'unknown field "{u}"' for u in unknown)
                raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                                  f"{rt.kind}: strict decoding error: {listed}")
            if mode == "Warn":
                warnings = [f'unknown field "{u}"' for u in unknown]
            rt.schema.prune(obj, unknown)
        rt.schema.default(obj)
        causes = rt.schema.causes(obj)
        if causes:
            raise invalid(rt, name, causes)
        return warnings

    def check_name(self, rt, name):
        if rt.plural in ("namespaces", "services"):
            ok = len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
            what = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or " \
                   "'-', and must start and end with an alphanumeric character"
        else:
            ok = len(name) <= 253 and re.fullmatch(
                r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name)
            what = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, " \
                   "'-' or '.', and must start and end with an alphanumeric character"
        if not ok:
            raise invalid(rt, name, [{"reason": "FieldValueInvalid", "field": "metadata.name",
                                      "message": f'Invalid value: "{name}": {what}'}])

    def check_crd(self, rt, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        name = crd["metadata"]["name"]
        causes = []
        for field in ("group", "scope"):
            if not spec.get(field):
                causes.append({"reason": "FieldValueRequired", "message": "Required value",
                               "field": f"spec.{field}"})
        for field in ("plural", "kind"):
            if not names.get(field):
                causes.append({"reason": "FieldValueRequired", "message": "Required value",
                               "field": f"spec.names.{field}"})
        versions = spec.get("versions") or []
        if not versions:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.versions"})
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.versions",
                           "message": "Invalid value: ...: must have exactly one version marked as storage "
                                      "version"})
        if not causes and name != f"{names['plural']}.{spec['group']}":
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'})
        if causes:
            raise invalid(rt, name, causes)
        # What the real server fills in: defaults, and a status that says Established.
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        spec.setdefault("conversion", {"strategy": "None"})
        prior = crd.get("status") or {}
        since = {c.get("type"): c.get("lastTransitionTime") for c in prior.get("conditions") or []}
        stored = list(prior.get("storedVersions") or [])
        stored += [v["name"] for v in versions if v.get("storage") and v["name"] not in stored]
        crd["status"] = {
            "acceptedNames": copy.deepcopy(names),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": since.get("NamesAccepted")
                 or rfc3339(), "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": since.get("Established")
                 or rfc3339(), "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted"},
            ],
            "storedVersions": stored,
        }

    def prepare(self, rt, obj, query, name):
        """What every write does to a new object state: the checks and the
        server-set fields of its type."""
        if rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io":
            self.check_crd(rt, obj)
        if rt.storage == ("", "secrets") and "stringData" in obj:
            # The real server writes stringData into data.
            data = obj.setdefault("data", {}) or {}
            for k, v in (obj.pop("stringData") or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        if rt.storage == ("", "pods"):
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if rt.storage == NAMESPACE_KEY:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        return self.check_fields(rt, obj, query, name)

    def check_body(self, rt, body, ns, name=None):
        if not isinstance(body, dict):
            raise bad_request("the body of the request is not a JSON object")
        internal = rt.to_internal(body)
        if "kind" not in body or "apiVersion" not in body:
            missing = "Kind" if "kind" not in body else "Version"
            raise bad_request(f"Object '{missing}' is missing in '{json.dumps(body)}'")
        if body["apiVersion"] != rt.api_version or body["kind"] != rt.kind:
            raise bad_request(f"the API version in the data ({body['apiVersion']}) or kind ({body['kind']}) "
                              f"does not match the expected API version ({rt.api_version}) and kind ({rt.kind})")
        meta = internal.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace "
                                  "sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name "
                              f"on the URL ({name})")
        return internal

    def create(self, rt, ns, body, query):
        obj = self.check_body(rt, body, ns)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))
        name = meta.get("name")
        if not name:
            raise invalid(rt, "", [{"reason": "FieldValueRequired", "field": "metadata.name",
                                    "message": "Required value: name or generateName is required"}])
        self.check_name(rt, name)
        if rt.namespaced and (None, ns) not in self.objects.get(NAMESPACE_KEY, {}):
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})
        if rt.crd is not None and rt.status:
            obj.pop("status", None)  # the status subresource alone writes it
        warnings = self.prepare(rt, obj, query, name)
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if (ns if rt.namespaced else None, name) in self.bucket(rt):
            raise ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists',
                           {"name": name, "group": rt.group, "kind": rt.plural})
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339()
        if rt.crd is not None:
            meta["generation"] = 1
        if query.get("dryRun") == "All":
            return obj, warnings
        return self.commit(rt, obj, "ADDED", None), warnings

    def update(self, rt, ns, name, body, query, subresource=None, current=None):
        """PUT, and the end of every patch: preconditions, what the
        subresource may change, generation, and no write if nothing changed."""
        current = current or self.get(rt, ns, name)
        obj = self.check_body(rt, body, ns, name)
        meta = obj["metadata"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        if meta.get("uid") and meta["uid"] != current["metadata"]["uid"]:
            raise conflict(rt, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                     f"UID in object meta: {current['metadata']['uid']}")
        if subresource == "status":
            # Only the status changes through /status.
            new = copy.deepcopy(current)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if rt.status:
                # The main resource does not write the status.
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
            for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                if k in current["metadata"]:
                    new["metadata"][k] = current["metadata"][k]
                else:
                    new["metadata"].pop(k, None)
            new["metadata"].pop("managedFields", None)
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        warnings = self.prepare(rt, new, query, name)
        if rt.crd is not None:
            ignored = ("metadata", "status") if rt.status else ("metadata",)
            strip = lambda o: {k: v for k, v in o.items() if k not in ignored}  # noqa: E731
            if strip(new) != strip(current):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if new == current:
            return current, warnings, 200  # the real server does not write a no-op update
        if query.get("dryRun") == "All":
            return new, warnings, 200
        if current["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self.commit(rt, new, "DELETED", current), warnings, 200
        return self.commit(rt, new, "MODIFIED", current), warnings, 200

    def patch(self, rt, ns, name, ctype, body, query, subresource=None):
        if ctype == "application/apply-patch+yaml":
            return self.apply(rt, ns, name, body, query, subresource)
        current = self.get(rt, ns, name)
        external = rt.to_external(current)
        if ctype == "application/merge-patch+json":
            patched = merge_patch(external, body)
        elif ctype == "application/json-patch+json":
            patched = json_patch(external, body)
        elif ctype == "application/strategic-merge-patch+json":
            if rt.crd is not None:
                raise unsupported_media(ctype, patch=True)
            patched = strategic_merge_patch(external, body)
        else:
            raise unsupported_media(ctype, patch=True)
        if not isinstance(patched, dict):
            raise bad_request("the patch does not leave an object")
        patched.setdefault("metadata", {}).setdefault("resourceVersion", current["metadata"]["resourceVersion"])
        return self.update(rt, ns, name, patched, query, subresource, current)

    def apply(self, rt, ns, name, body, query, subresource):
        """Server-side apply, one manager's semantics: /status takes the applied
        status whole; the main resource merges the applied object, or is created."""
        if not query.get("fieldManager"):
            raise bad_request("PATCH requests with apply-patch+yaml require fieldManager to be set")
        if not isinstance(body, dict) or "apiVersion" not in body or "kind" not in body:
            raise bad_request("invalid object type: apply needs apiVersion and kind")
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise bad_request(f"the name of the object ({body['metadata']['name']}) does not match the name "
                              f"on the URL ({name})")
        try:
            current = self.get(rt, ns, name)
        except ApiError:
            if subresource:
                raise
            obj = copy.deepcopy(body)
            obj.setdefault("metadata", {})["name"] = name
            created, warnings = self.create(rt, ns, obj, query)
            return created, warnings, 201
        external = rt.to_external(current)
        if subresource == "status":
            patched = external
            if "status" in body:
                patched["status"] = copy.deepcopy(body["status"])
        else:
            applied = {k: v for k, v in body.items() if not (k == "status" and rt.status)}
            patched = merge_patch(external, applied)
        meta = patched.setdefault("metadata", {})
        if "resourceVersion" not in (body.get("metadata") or {}):
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.update(rt, ns, name, patched, query, subresource, current)

    def delete(self, rt, ns, name, options, query):
        current = self.get(rt, ns, name)
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise conflict(rt, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                     f"UID in object meta: {current['metadata']['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise conflict(rt, name, "Precondition failed: ResourceVersion in precondition: "
                                     f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                     f"{current['metadata']['resourceVersion']}")
        if query.get("dryRun") == "All":
            return current, 200
        if current["metadata"].get("finalizers"):
            # Finalizers hold the object until its controllers remove them.
            if current["metadata"].get("deletionTimestamp"):
                return current, 202
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self.commit(rt, new, "MODIFIED", current), 202
        if rt.storage == NAMESPACE_KEY:
            for storage, bucket in list(self.objects.items()):
                for (ons, oname), obj in sorted(bucket.items(), key=lambda kv: kv[0][1]):
                    if ons == name:
                        self.commit(self.type_of_storage(storage), copy.deepcopy(obj), "DELETED", obj)
        if rt.storage == CRD_KEY:
            spec = current.get("spec") or {}
            storage = (spec.get("group"), (spec.get("names") or {}).get("plural"))
            crt = self.type_of_storage(storage)
            for obj in list(self.objects.get(storage, {}).values()):
                self.commit(crt, copy.deepcopy(obj), "DELETED", obj)
        return self.commit(rt, copy.deepcopy(current), "DELETED", current), 200

    def type_of_storage(self, storage):
        found = [rt for rt in self.types.values() if rt.storage == storage]
        return found[0] if found else RType(storage[0], "v1", storage[1], "Unknown")

    # Test controls

    def compact(self):
        """Every resourceVersion issued so far expires: the counter moves on so
        that a list made after this has a valid one."""
        self.rv += 1
        self.compacted = self.rv
        self.history, self.history_rvs = [], []
        self.epoch += 1
        self.hold = True
        self.stats["compactions"] += 1
        self.cond.notify_all()
        return self.compacted

    def release(self):
        self.hold = False
        self.cond.notify_all()


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media(ctype, patch=False):
    accepted = ("application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                if patch else "application/json, application/vnd.kubernetes.protobuf")
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types include: '
                    f'{accepted}', {"causes": [{"reason": "UnexpectedServerResponse", "message": ctype}]})


# --- Representations --------------------------------------------------------


def partial_metadata(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(obj["metadata"])}


def to_table(rt, objs, rv, include_object="Metadata", headers=True, version="v1"):
    """A meta.k8s.io Table, as `kubectl get` asks for it."""
    table = {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": {"resourceVersion": rv}}
    if headers:
        table["columnDefinitions"] = [
            {"name": n, "type": t, "format": f, "description": d, "priority": p}
            for n, t, f, p, _, d in rt.columns]
    rows = []
    for obj in objs:
        row = {"cells": [fn(obj) for _, _, _, _, fn, _ in rt.columns]}
        if include_object == "Object":
            row["object"] = rt.to_external(obj)
        elif include_object != "None":
            row["object"] = partial_metadata(rt.to_external(obj))
        rows.append(row)
    table["rows"] = rows
    return table


def parse_accept(header):
    """The first representation of the Accept header the server can give:
    ("json"), ("table", version) or ("partial", kind)."""
    for part in (header or "application/json").split(","):
        fields = [f.strip() for f in part.split(";")]
        media, params = fields[0].lower(), dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if media not in ("application/json", "*/*", "application/*"):
            continue
        as_ = params.get("as")
        if as_ is None:
            return ("json",)
        if params.get("g") == "meta.k8s.io" and as_ == "Table" and params.get("v") in ("v1", "v1beta1"):
            return ("table", params["v"])
        if params.get("g") == "meta.k8s.io" and as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return ("partial", as_)
    return None


# --- Discovery and OpenAPI ----------------------------------------------------


def resource_entry(rt):
    entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
             "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
    if rt.short_names:
        entry["shortNames"] = rt.short_names
    if rt.categories:
        entry["categories"] = rt.categories
    entry["storageVersionHash"] = base64.b64encode(
        hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()[:8]).decode()
    return entry


def resource_list(store, group, version):
    resources = []
    for rt in sorted((rt for rt in store.types.values() if (rt.group, rt.version) == (group, version)),
                     key=lambda r: r.plural):
        resources.append(resource_entry(rt))
        if rt.status:
            resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": ["get", "patch", "update"]})
    if not resources:
        raise path_not_found()
    out = {"kind": "APIResourceList", "groupVersion": f"{group}/{version}" if group else version,
           "resources": resources}
    if group:
        out["apiVersion"] = "v1"
    return out


def api_group(group, versions):
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


QUERY_PARAMS = {
    "dryRun": "When present, indicates that modifications should not be persisted. Valid value: All.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request "
                       "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, "
                       "Warn, Strict.",
    "force": "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields.",
    "limit": "limit is a maximum number of responses to return for a list call.",
    "continue": "The continue option should be set when retrieving more results from the server.",
    "resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served from.",
    "resourceVersionMatch": "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    "timeoutSeconds": "Timeout for the list/watch call.",
    "watch": "Watch for changes to the described resources and return them as a stream of add, update, "
             "and remove notifications.",
    "allowWatchBookmarks": "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
    "sendInitialEvents": "`sendInitialEvents=true` may be set together with `watch=true`.",
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
}
QUERY_TYPES = {"force": "boolean", "watch": "boolean", "allowWatchBookmarks": "boolean",
               "sendInitialEvents": "boolean", "limit": "integer", "timeoutSeconds": "integer",
               "gracePeriodSeconds": "integer"}
LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
               "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
WRITE_PARAMS = ["dryRun", "fieldManager", "fieldValidation"]


def openapi_gv(store, group, version):
    """The OpenAPI v3 document of one group-version: its paths, with the
    fieldValidation parameter kubectl looks for on PATCH (so that it leaves the
    validation to the server), and its schemas (a CRD's own)."""
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    schemas = {
        meta + "ObjectMeta": {
            "description": "ObjectMeta is metadata that all persisted resources must have.", "type": "object",
            "properties": {
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
                "finalizers": {"type": "array", "items": {"type": "string"}},
                "generateName": {"type": "string"},
                "generation": {"type": "integer", "format": "int64"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "managedFields": {"type": "array", "items": {"type": "object"}},
                "name": {"type": "string", "description": NAME_DESCRIPTION},
                "namespace": {"type": "string"},
                "ownerReferences": {"type": "array", "items": {"type": "object"}},
                "resourceVersion": {"type": "string"},
                "selfLink": {"type": "string"},
                "uid": {"type": "string"},
            }},
        meta + "ListMeta": {"type": "object", "properties": {
            "continue": {"type": "string"}, "remainingItemCount": {"type": "integer", "format": "int64"},
            "resourceVersion": {"type": "string"}, "selfLink": {"type": "string"}}},
        meta + "Status": {"type": "object", "description": "Status is a return value for calls that don't "
                          "return other objects.", "x-kubernetes-preserve-unknown-fields": True},
        meta + "Patch": {"type": "object", "description": "Patch is provided to give a concrete name and type "
                         "to the Kubernetes PATCH request body."},
        meta + "DeleteOptions": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        meta + "WatchEvent": {"type": "object", "required": ["type", "object"], "properties": {
            "type": {"type": "string"}, "object": {"type": "object"}}},
    }
    paths = {}
    rts = sorted((rt for rt in store.types.values() if (rt.group, rt.version) == (group, version)),
                 key=lambda r: r.plural)
    if not rts:
        raise path_not_found()
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for rt in rts:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        if rt.crd is not None and rt.schema is not None:
            schema = copy.deepcopy(rt.schema.raw)
            schema.setdefault("properties", {}).update({
                "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of "
                               "this representation of an object."},
                "kind": {"type": "string", "description": "Kind is a string value representing the REST "
                         "resource this object represents."},
                "metadata": {"allOf": [ref(meta + "ObjectMeta")], "description": "Standard object's metadata."},
            })
            schema["type"] = "object"
            schema["x-kubernetes-group-version-kind"] = [gvk]
        else:
            # Built-in types are stored as given: described as free-form, and
            # without the GVK mark, so that kubectl computes strategic merge
            # patches from its own compiled-in types.
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                      "description": f"{rt.kind}: this stand-in stores it as given."}
        schemas[rt.schema_name] = schema
        schemas[rt.schema_name + "List"] = {
            "type": "object", "required": ["items"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "items": {"type": "array", "items": ref(rt.schema_name)},
                           "metadata": {"allOf": [ref(meta + "ListMeta")]}},
            "x-kubernetes-group-version-kind": [{**gvk, "kind": rt.list_kind}]}

        def param(name, where="query"):
            p = {"name": name, "in": where, "description": QUERY_PARAMS.get(name, name),
                 "schema": {"type": QUERY_TYPES.get(name, "string"), "uniqueItems": True}}
            if where == "path":
                p["required"] = True
            return p

        def op(action, verb_kind, params, response, body=None, kind=rt.kind):
            out = {"tags": [f"{group or 'core'}_{version}"], "operationId": f"{action}{rt.kind}",
                   "description": f"{action} {verb_kind}", "parameters": [param(p) for p in params],
                   "responses": {"200": {"description": "OK", "content": {
                       "application/json": {"schema": ref(response)}}},
                       "401": {"description": "Unauthorized"}},
                   "x-kubernetes-action": action,
                   "x-kubernetes-group-version-kind": {**gvk, "kind": kind}}
            if body:
                out["requestBody"] = {"content": {t: {"schema": ref(body)} for t in (
                    ["application/json-patch+json", "application/merge-patch+json",
                     "application/apply-patch+yaml"]
                    + (["application/strategic-merge-patch+json"] if rt.crd is None else [])
                    if body == meta + "Patch" else ["*/*"])}, "required": True}
            if action == "post":
                out["responses"]["201"] = out["responses"]["200"]
            return out

        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
        path_params = [param("namespace", "path")] if rt.namespaced else []
        name_params = path_params + [param("name", "path")]
        paths[base] = {
            "get": op("list", f"objects of kind {rt.kind}", LIST_PARAMS, rt.schema_name + "List"),
            "post": op("post", f"a {rt.kind}", WRITE_PARAMS, rt.schema_name, body=rt.schema_name),
            "delete": op("deletecollection", f"collection of {rt.kind}", ["dryRun"] + LIST_PARAMS,
                         meta + "Status"),
            "parameters": path_params,
        }
        paths[f"{base}/{{name}}"] = {
            "get": op("get", f"the specified {rt.kind}", [], rt.schema_name),
            "put": op("put", f"the specified {rt.kind}", WRITE_PARAMS, rt.schema_name, body=rt.schema_name),
            "patch": op("patch", f"partially update the specified {rt.kind}", WRITE_PARAMS + ["force"],
                        rt.schema_name, body=meta + "Patch"),
            "delete": op("delete", f"a {rt.kind}", ["dryRun", "gracePeriodSeconds", "propagationPolicy"],
                         meta + "Status"),
            "parameters": name_params,
        }
        if rt.status:
            paths[f"{base}/{{name}}/status"] = {
                "get": op("get", f"status of the specified {rt.kind}", [], rt.schema_name),
                "put": op("put", f"status of the specified {rt.kind}", WRITE_PARAMS, rt.schema_name,
                          body=rt.schema_name),
                "patch": op("patch", f"status of the specified {rt.kind}", WRITE_PARAMS + ["force"],
                            rt.schema_name, body=meta + "Patch"),
                "parameters": name_params,
            }
        if rt.namespaced:
            paths[f"{prefix}/{rt.plural}"] = {
                "get": op("list", f"objects of kind {rt.kind} in all namespaces", LIST_PARAMS,
                          rt.schema_name + "List")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                "name": "authorization", "in": "header"}}}}


def gv_path(group, version):
    return f"apis/{group}/{version}" if group else f"api/{version}"


def doc_hash(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


# --- OpenAPI v2 ---------------------------------------------------------------
#
# kubectl before 1.25 validates objects on the client against the OpenAPI v2
# document (GET /openapi/v2, which it reads in protobuf only), and computes the
# strategic merge patch of a built-in type from it; newer ones still read it
# for that patch when the v3 documents do not describe the type (as here). A
# CRD's kinds are published as the apiextensions-apiserver publishes them in v2
# (crd_definition_v2). Built-in types are described as far as those two uses
# need: each struct on the way to a list that merges by key (with the list's
# patch strategy and merge key) with all its fields, the types of those fields;
# below that a field is untyped (LOOSE), which kubectl's validator accepts
# whatever it holds and its patch computation treats as a whole value.

V2_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
V2_CORE = "io.k8s.api.core.v1."
LOOSE = "Not described by this stand-in: any value is accepted."


def _v2_field(spec):
    """A property's schema from its shorthand: a type (`string`, `boolean`,
    `int32`, `int64`, `byte`, `any`), `@Definition`, `[spec]` an array of it,
    `{spec}` a map of it; a tuple (spec, patch strategy, merge key) marks a
    list or map the strategic merge patch merges."""
    if isinstance(spec, tuple):
        out = _v2_field(spec[0])
        out["x-kubernetes-patch-strategy"] = spec[1]
        if len(spec) > 2:
            out["x-kubernetes-patch-merge-key"] = spec[2]
        return out
    if spec.startswith("["):
        return {"type": "array", "items": _v2_field(spec[1:-1])}
    if spec.startswith("{"):
        return {"type": "object", "additionalProperties": _v2_field(spec[1:-1])}
    if spec.startswith("@"):
        return {"$ref": "#/definitions/" + spec[1:]}
    if spec in ("int32", "int64"):
        return {"type": "integer", "format": spec}
    if spec == "byte":
        return {"type": "string", "format": "byte"}
    if spec == "any":
        return {"description": LOOSE}
    return {"type": spec}


def _v2_struct(description, fields, required=()):
    out = {"description": description, "type": "object",
           "properties": {k: _v2_field(v) for k, v in fields.items()}}
    if required:
        out["required"] = list(required)
    return out


def _v2_builtin_definitions():
    """The definitions of the meta types and of the built-in kinds served
    here (their x-kubernetes-group-version-kind is added from the served
    types), with their fields as of Kubernetes 1.33."""
    M, C = V2_META, V2_CORE
    time, mtime, meta = "@" + M + "Time", "@" + M + "MicroTime", "@" + M + "ObjectMeta"
    objref, localref = "@" + C + "ObjectReference", "@" + C + "LocalObjectReference"
    top = lambda d, **f: _v2_struct(d, {"apiVersion": "string", "kind": "string", "metadata": meta, **f})  # noqa: E731
    container = {
        "args": "[string]", "command": "[string]", "env": ("[@" + C + "EnvVar]", "merge", "name"),
        "envFrom": "[any]", "image": "string", "imagePullPolicy": "string", "lifecycle": "any",
        "livenessProbe": "any", "name": "string",
        "ports": ("[@" + C + "ContainerPort]", "merge", "containerPort"), "readinessProbe": "any",
        "resizePolicy": "[any]", "resources": "any", "restartPolicy": "string", "securityContext": "any",
        "startupProbe": "any", "stdin": "boolean", "stdinOnce": "boolean", "terminationMessagePath": "string",
        "terminationMessagePolicy": "string", "tty": "boolean",
        "volumeDevices": ("[any]", "merge", "devicePath"), "volumeMounts": ("[any]", "merge", "mountPath"),
        "workingDir": "string"}
    defs = {
        M + "Time": {"description": "Time is a wrapper around time.Time which supports correct marshaling to "
                     "YAML and JSON.", "type": "string", "format": "date-time"},
        M + "MicroTime": {"description": "MicroTime is version of Time with microsecond level precision.",
                          "type": "string", "format": "date-time"},
        M + "FieldsV1": {"description": "FieldsV1 stores a set of fields in a data structure like a Trie, in "
                         "JSON format.", "type": "object"},
        M + "Patch": {"description": "Patch is provided to give a concrete name and type to the Kubernetes "
                      "PATCH request body.", "type": "object"},
        "io.k8s.apimachinery.pkg.runtime.RawExtension": {
            "description": "RawExtension is used to hold extensions in external versions.", "type": "object"},
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
            "description": "IntOrString is a type that can hold an int32 or a string.", "type": "string",
            "format": "int-or-string"},
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {
            "description": "Quantity is a fixed-point representation of a number.", "type": "string"},
        M + "ObjectMeta": _v2_struct("ObjectMeta is metadata that all persisted resources must have, which "
                                     "includes all objects users must create.", {
            "annotations": "{string}", "creationTimestamp": time, "deletionGracePeriodSeconds": "int64",
            "deletionTimestamp": time, "finalizers": ("[string]", "merge"), "generateName": "string",
            "generation": "int64", "labels": "{string}", "managedFields": "[@" + M + "ManagedFieldsEntry]",
            "name": "string", "namespace": "string",
            "ownerReferences": ("[@" + M + "OwnerReference]", "merge", "uid"), "resourceVersion": "string",
            "selfLink": "string", "uid": "string"}),
        M + "OwnerReference": _v2_struct("OwnerReference contains enough information to let you identify an "
                                         "owning object.", {
            "apiVersion": "string", "blockOwnerDeletion": "boolean", "controller": "boolean", "kind": "string",
            "name": "string", "uid": "string"}, ["apiVersion", "kind", "name", "uid"]),
        M + "ManagedFieldsEntry": _v2_struct("ManagedFieldsEntry is a workflow-id, a FieldSet and the group "
                                             "version of the resource that the fieldset applies to.", {
            "apiVersion": "string", "fieldsType": "string", "fieldsV1": "@" + M + "FieldsV1", "manager": "string",
            "operation": "string", "subresource": "string", "time": time}),
        M + "ListMeta": _v2_struct("ListMeta describes metadata that synthetic resources must have.", {
            "continue": "string", "remainingItemCount": "int64", "resourceVersion": "string",
            "selfLink": "string"}),
        M + "Status": _v2_struct("Status is a return value for calls that don't return other objects.", {
            "apiVersion": "string", "code": "int32", "details": "@" + M + "StatusDetails", "kind": "string",
            "message": "string", "metadata": "@" + M + "ListMeta", "reason": "string", "status": "string"}),
        M + "StatusDetails": _v2_struct("StatusDetails is a set of additional properties that MAY be set by "
                                        "the server to provide additional information about a response.", {
            "causes": "[@" + M + "StatusCause]", "group": "string", "kind": "string", "name": "string",
            "retryAfterSeconds": "int32", "uid": "string"}),
        M + "StatusCause": _v2_struct("StatusCause provides more information about an api.Status failure.", {
            "field": "string", "message": "string", "reason": "string"}),
        M + "DeleteOptions": _v2_struct("DeleteOptions may be provided when deleting an API object.", {
            "apiVersion": "string", "dryRun": "[string]", "gracePeriodSeconds": "int64",
            "ignoreStoreReadErrorWithClusterBreakingPotential": "boolean", "kind": "string",
            "orphanDependents": "boolean", "preconditions": "@" + M + "Preconditions",
            "propagationPolicy": "string"}),
        M + "Preconditions": _v2_struct("Preconditions must be fulfilled before an operation (update, "
                                        "delete, etc.) is carried out.", {
            "resourceVersion": "string", "uid": "string"}),
        M + "WatchEvent": _v2_struct("Event represents a single event to a watched resource.", {
            "object": "@io.k8s.apimachinery.pkg.runtime.RawExtension", "type": "string"}, ["type", "object"]),
        C + "ObjectReference": _v2_struct("ObjectReference contains enough information to let you inspect or "
                                          "modify the referred object.", {
            "apiVersion": "string", "fieldPath": "string", "kind": "string", "name": "string",
            "namespace": "string", "resourceVersion": "string", "uid": "string"}),
        C + "LocalObjectReference": _v2_struct("LocalObjectReference contains enough information to let you "
                                               "locate the referenced object inside the same namespace.", {
            "name": "string"}),
        # core/v1
        C + "Namespace": top("Namespace provides a scope for Names.", spec="@" + C + "NamespaceSpec",
                             status="@" + C + "NamespaceStatus"),
        C + "NamespaceSpec": _v2_struct("NamespaceSpec describes the attributes on a Namespace.", {
            "finalizers": "[string]"}),
        C + "NamespaceStatus": _v2_struct("NamespaceStatus is information about the current status of a "
                                          "Namespace.", {
            "conditions": ("[any]", "merge", "type"), "phase": "string"}),
        C + "Secret": top("Secret holds secret data of a certain type.", data="{byte}", immutable="boolean",
                          stringData="{string}", type="string"),
        C + "ConfigMap": top("ConfigMap holds configuration data for pods to consume.", binaryData="{byte}",
                             data="{string}", immutable="boolean"),
        C + "ServiceAccount": top("ServiceAccount binds together a name, a principal, secrets and a token.",
                                  automountServiceAccountToken="boolean", imagePullSecrets="[" + localref + "]",
                                  secrets=("[" + objref + "]", "merge", "name")),
        C + "Endpoints": top("Endpoints is a collection of endpoints that implement the actual service.",
                             subsets="[@" + C + "EndpointSubset]"),
        C + "EndpointSubset": _v2_struct("EndpointSubset is a group of addresses with a common set of ports.", {
            "addresses": "[any]", "notReadyAddresses": "[any]", "ports": "[any]"}),
        C + "Event": {**top("Event is a report of an event somewhere in the cluster.", action="string",
                            count="int32", eventTime=mtime, firstTimestamp=time, involvedObject=objref,
                            lastTimestamp=time, message="string", reason="string", related=objref,
                            reportingComponent="string", reportingInstance="string",
                            series="@" + C + "EventSeries", source="@" + C + "EventSource", type="string"),
                      "required": ["metadata", "involvedObject"]},
        C + "EventSeries": _v2_struct("EventSeries contain information on series of events.", {
            "count": "int32", "lastObservedTime": mtime}),
        C + "EventSource": _v2_struct("EventSource contains information for an event.", {
            "component": "string", "host": "string"}),
        C + "Pod": top("Pod is a collection of containers that can run on a host.", spec="@" + C + "PodSpec",
                       status="@" + C + "PodStatus"),
        C + "PodSpec": _v2_struct("PodSpec is a description of a pod.", {
            "activeDeadlineSeconds": "int64", "affinity": "any", "automountServiceAccountToken": "boolean",
            "containers": ("[@" + C + "Container]", "merge", "name"), "dnsConfig": "any", "dnsPolicy": "string",
            "enableServiceLinks": "boolean",
            "ephemeralContainers": ("[@" + C + "EphemeralContainer]", "merge", "name"),
            "hostAliases": ("[any]", "merge", "ip"), "hostIPC": "boolean", "hostNetwork": "boolean",
            "hostPID": "boolean", "hostUsers": "boolean", "hostname": "string",
            "imagePullSecrets": ("[" + localref + "]", "merge", "name"),
            "initContainers": ("[@" + C + "Container]", "merge", "name"), "nodeName": "string",
            "nodeSelector": "{string}", "os": "any", "overhead": "{@io.k8s.apimachinery.pkg.api.resource.Quantity}",
            "preemptionPolicy": "string", "priority": "int32", "priorityClassName": "string",
            "readinessGates": "[any]", "resourceClaims": ("[any]", "merge,retainKeys", "name"), "resources": "any",
            "restartPolicy": "string", "runtimeClassName": "string", "schedulerName": "string",
            "schedulingGates": ("[any]", "merge", "name"), "securityContext": "any", "serviceAccount": "string",
            "serviceAccountName": "string", "setHostnameAsFQDN": "boolean", "shareProcessNamespace": "boolean",
            "subdomain": "string", "terminationGracePeriodSeconds": "int64", "tolerations": "[any]",
            "topologySpreadConstraints": ("[any]", "merge", "topologyKey"),
            "volumes": ("[any]", "merge,retainKeys", "name")}, ["containers"]),
        C + "Container": _v2_struct("A single application container that you want to run within a pod.",
                                    container, ["name"]),
        C + "EphemeralContainer": _v2_struct("An EphemeralContainer is a temporary container that you may add "
                                             "to an existing Pod for user-initiated activities such as "
                                             "debugging.", {**container, "targetContainerName": "string"},
                                             ["name"]),
        C + "EnvVar": _v2_struct("EnvVar represents an environment variable present in a Container.", {
            "name": "string", "value": "string", "valueFrom": "any"}, ["name"]),
        C + "ContainerPort": _v2_struct("ContainerPort represents a network port in a single container.", {
            "containerPort": "int32", "hostIP": "string", "hostPort": "int32", "name": "string",
            "protocol": "string"}, ["containerPort"]),
        C + "PodStatus": _v2_struct("PodStatus represents information about the status of a pod.", {
            "conditions": ("[any]", "merge", "type"), "containerStatuses": "[any]",
            "ephemeralContainerStatuses": "[any]", "hostIP": "string", "hostIPs": ("[any]", "merge", "ip"),
            "initContainerStatuses": "[any]", "message": "string", "nominatedNodeName": "string",
            "observedGeneration": "int64", "phase": "string", "podIP": "string",
            "podIPs": ("[any]", "merge", "ip"), "qosClass": "string", "reason": "string", "resize": "string",
            "resourceClaimStatuses": ("[any]", "merge,retainKeys", "name"), "startTime": time}),
        C + "Service": top("Service is a named abstraction of software service.", spec="@" + C + "ServiceSpec",
                           status="@" + C + "ServiceStatus"),
        C + "ServiceSpec": _v2_struct("ServiceSpec describes the attributes that a user creates on a service.", {
            "allocateLoadBalancerNodePorts": "boolean", "clusterIP": "string", "clusterIPs": "[string]",
            "externalIPs": "[string]", "externalName": "string", "externalTrafficPolicy": "string",
            "healthCheckNodePort": "int32", "internalTrafficPolicy": "string", "ipFamilies": "[string]",
            "ipFamilyPolicy": "string", "loadBalancerClass": "string", "loadBalancerIP": "string",
            "loadBalancerSourceRanges": "[string]", "ports": ("[@" + C + "ServicePort]", "merge", "port"),
            "publishNotReadyAddresses": "boolean", "selector": "{string}", "sessionAffinity": "string",
            "sessionAffinityConfig": "any", "trafficDistribution": "string", "type": "string"}),
        C + "ServicePort": _v2_struct("ServicePort contains information on service's port.", {
            "appProtocol": "string", "name": "string", "nodePort": "int32", "port": "int32",
            "protocol": "string", "targetPort": "@io.k8s.apimachinery.pkg.util.intstr.IntOrString"}, ["port"]),
        C + "ServiceStatus": _v2_struct("ServiceStatus represents the current status of a service.", {
            "conditions": ("[any]", "merge", "type"), "loadBalancer": "any"}),
        # coordination.k8s.io/v1
        "io.k8s.api.coordination.v1.Lease": top("Lease defines a lease concept.",
                                                spec="@io.k8s.api.coordination.v1.LeaseSpec"),
        "io.k8s.api.coordination.v1.LeaseSpec": _v2_struct("LeaseSpec is a specification of a Lease.", {
            "acquireTime": mtime, "holderIdentity": "string", "leaseDurationSeconds": "int32",
            "leaseTransitions": "int32", "preferredHolder": "string", "renewTime": mtime, "strategy": "string"}),
        # discovery.k8s.io/v1
        "io.k8s.api.discovery.v1.EndpointSlice": {
            **top("EndpointSlice represents a set of service endpoints.", addressType="string",
                  endpoints="[@io.k8s.api.discovery.v1.Endpoint]", ports="[@io.k8s.api.discovery.v1.EndpointPort]"),
            "required": ["addressType", "endpoints"]},
        "io.k8s.api.discovery.v1.Endpoint": _v2_struct("Endpoint represents a single logical \"backend\" "
                                                       "implementing a service.", {
            "addresses": "[string]", "conditions": "@io.k8s.api.discovery.v1.EndpointConditions",
            "deprecatedTopology": "{string}", "hints": "any", "hostname": "string", "nodeName": "string",
            "targetRef": objref, "zone": "string"}, ["addresses"]),
        "io.k8s.api.discovery.v1.EndpointConditions": _v2_struct("EndpointConditions represents the current "
                                                                 "condition of an endpoint.", {
            "ready": "boolean", "serving": "boolean", "terminating": "boolean"}),
        "io.k8s.api.discovery.v1.EndpointPort": _v2_struct("EndpointPort represents a Port used by an "
                                                           "EndpointSlice", {
            "appProtocol": "string", "name": "string", "port": "int32", "protocol": "string"}),
        # events.k8s.io/v1
        "io.k8s.api.events.v1.Event": {
            **top("Event is a report of an event somewhere in the cluster.", action="string",
                  deprecatedCount="int32", deprecatedFirstTimestamp=time, deprecatedLastTimestamp=time,
                  deprecatedSource="@" + C + "EventSource", eventTime=mtime, note="string", reason="string",
                  regarding=objref, related=objref, reportingController="string", reportingInstance="string",
                  series="@io.k8s.api.events.v1.EventSeries", type="string"),
            "required": ["eventTime"]},
        "io.k8s.api.events.v1.EventSeries": _v2_struct("EventSeries contain information on series of events.", {
            "count": "int32", "lastObservedTime": mtime}, ["count", "lastObservedTime"]),
    }
    crd = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
    defs.update({
        crd + "CustomResourceDefinition": {
            **top("CustomResourceDefinition represents a resource that should be exposed on the API server.",
                  spec="@" + crd + "CustomResourceDefinitionSpec", status="@" + crd + "CustomResourceDefinitionStatus"),
            "required": ["spec"]},
        crd + "CustomResourceDefinitionSpec": _v2_struct("CustomResourceDefinitionSpec describes how a user "
                                                         "wants their resource to appear", {
            "conversion": "any", "group": "string", "names": "@" + crd + "CustomResourceDefinitionNames",
            "preserveUnknownFields": "boolean", "scope": "string",
            "versions": "[@" + crd + "CustomResourceDefinitionVersion]"}, ["group", "names", "scope", "versions"]),
        crd + "CustomResourceDefinitionNames": _v2_struct("CustomResourceDefinitionNames indicates the names to "
                                                          "serve this CustomResourceDefinition", {
            "categories": "[string]", "kind": "string", "listKind": "string", "plural": "string",
            "shortNames": "[string]", "singular": "string"}, ["plural", "kind"]),
        crd + "CustomResourceDefinitionVersion": _v2_struct("CustomResourceDefinitionVersion describes a "
                                                            "version for CRD.", {
            "additionalPrinterColumns": "[any]", "deprecated": "boolean", "deprecationWarning": "string",
            "name": "string", "schema": "any", "selectableFields": "[any]", "served": "boolean",
            "storage": "boolean", "subresources": "any"}, ["name", "served", "storage"]),
        crd + "CustomResourceDefinitionStatus": _v2_struct("CustomResourceDefinitionStatus indicates the state "
                                                           "of the CustomResourceDefinition", {
            "acceptedNames": "@" + crd + "CustomResourceDefinitionNames", "conditions": "[any]",
            "storedVersions": "[string]"}),
    })
    return defs


V2_BUILTIN_DEFINITIONS = _v2_builtin_definitions()

# The keywords of a CRD's structural schema that an OpenAPI v2 schema keeps
# (what apiextensions-apiserver's Structural holds; `default` is pruned and
# the junctors dropped for v2).
V2_SCHEMA_KEYWORDS = {
    "description", "type", "title", "format", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "multipleOf", "enum",
    "maxProperties", "minProperties", "required", "properties", "items", "additionalProperties",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-validations",
}
TYPE_META_V2 = {
    "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an "
                   "object. Servers should convert recognized schemas to the latest internal value, and may "
                   "reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
                   "sig-architecture/api-conventions.md#resources", "type": "string"},
    "kind": {"description": "Kind is a string value representing the REST resource this object represents. "
             "Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In "
             "CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
             "api-conventions.md#types-kinds", "type": "string"},
}
METADATA_V2 = {"$ref": f"#/definitions/{V2_META}ObjectMeta",
               "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/"
                              "devel/sig-architecture/api-conventions.md#metadata"}


def _crd_schema_v2(s):
    """apiextensions-apiserver's ToStructuralOpenAPIV2 (what kubectl's v2
    parser copes with): a nullable value loses its type, properties and items,
    a value that keeps unknown fields its properties and items, an array
    without items its type; a nullable field is not required."""
    if not isinstance(s, dict):
        return s
    out = {k: v for k, v in s.items() if k in V2_SCHEMA_KEYWORDS}
    if s.get("nullable"):
        for k in ("type", "items", "properties"):
            out.pop(k, None)
    if s.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("items", None)
        out.pop("properties", None)
    if out.get("type") == "array" and "items" not in out:
        del out["type"]
    props = out.get("properties") or {}
    if "required" in out:
        out["required"] = [r for r in out["required"] if not (props.get(r) or {}).get("nullable")]
        addl = out.get("additionalProperties")
        if isinstance(addl, dict) and addl.get("nullable"):
            out["required"] = []
        if not out["required"]:
            del out["required"]
    if "properties" in out:
        out["properties"] = {k: _crd_schema_v2(v) for k, v in props.items()}
        if not out["properties"]:
            del out["properties"]  # an empty map is left out of the JSON, as in the real server's
    if isinstance(out.get("items"), dict):
        out["items"] = _crd_schema_v2(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _crd_schema_v2(out["additionalProperties"])
    return out


def _embedded_v2(s):
    """addEmbeddedProperties: an embedded resource gets apiVersion, kind and
    metadata (unless it keeps unknown fields)."""
    if not isinstance(s, dict):
        return
    for v in (s.get("properties") or {}).values():
        _embedded_v2(v)
    for k in ("items", "additionalProperties"):
        _embedded_v2(s.get(k))
    if s.get("x-kubernetes-preserve-unknown-fields"):
        return
    if s.get("x-kubernetes-embedded-resource"):
        s.setdefault("properties", {}).update(copy.deepcopy(TYPE_META_V2))
        s["properties"]["metadata"] = copy.deepcopy(METADATA_V2)
        s["required"] = (s.get("required") or []) + [k for k in ("kind", "apiVersion")
                                                      if k not in (s.get("required") or [])]


def crd_definition_v2(rt):
    """A CRD version's kind as apiextensions-apiserver publishes it in
    OpenAPI v2: the schema made v2-compatible, defaults pruned, with apiVersion,
    kind and metadata; only `type: object` if it keeps unknown fields at its
    root (else kubectl would refuse them)."""
    raw = rt.schema.raw if rt.schema is not None else None
    if raw is None or raw.get("x-kubernetes-preserve-unknown-fields") or \
            (rt.crd.get("spec") or {}).get("preserveUnknownFields"):
        out = {"type": "object"}
    else:
        out = _crd_schema_v2(raw)
        out["type"] = "object"
        out.setdefault("properties", {})["metadata"] = copy.deepcopy(METADATA_V2)
        out["properties"].update(copy.deepcopy(TYPE_META_V2))
        _embedded_v2(out)
    out["x-kubernetes-group-version-kind"] = [{"group": rt.group, "kind": rt.kind, "version": rt.version}]
    return out


def _operation_name(rt):
    """The operationId's middle: CoreV1, CoordinationV1, EtcdMonitorIoV1alpha1."""
    group = rt.group.removesuffix(".k8s.io") if rt.crd is None else rt.group
    words = re.split(r"[.-]", group) if group else ["core"]
    return "".join(w[:1].upper() + w[1:] for w in words) + rt.version[:1].upper() + rt.version[1:]


V2_PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
V2_WATCH_PRODUCES = V2_PRODUCES + ["application/json;stream=watch",
                                   "application/vnd.kubernetes.protobuf;stream=watch"]


def openapi_v2_paths(rt):
    """The paths of one served resource, as the real v2 document has them."""
    ref = lambda name: {"$ref": f"#/definitions/{name}"}  # noqa: E731
    meta = V2_META
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    middle = _operation_name(rt)
    tag = f"{_operation_name(rt)[:-len(rt.version)]}_{rt.version}"
    tag = tag[:1].lower() + tag[1:]

    def query(name):
        return {"uniqueItems": True, "type": QUERY_TYPES.get(name, "string"),
                "description": QUERY_PARAMS.get(name, name), "name": name, "in": "query"}

    def op(action, verb, desc, params, response, body=None, consumes=("*/*",), codes=("200",), scope=""):
        body_param = {"name": "body", "in": "body", "schema": ref(body)} if body else None
        if body and "DeleteOptions" not in body:
            body_param["required"] = True
        out = {"description": desc, "consumes": list(consumes),
               "produces": V2_WATCH_PRODUCES if action == "list" else V2_PRODUCES, "schemes": ["https"],
               "tags": [tag], "operationId": f"{verb}{middle}{scope}{rt.kind}",
               "parameters": ([body_param] if body else []) + [query(p) for p in params],
               "responses": {**{c: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[c],
                                    "schema": ref(response)} for c in codes},
                             "401": {"description": "Unauthorized"}},
               "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}
        return out

    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    scope = "Namespaced" if rt.namespaced else ""
    base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    ns_param = {"uniqueItems": True, "type": "string", "description": "object name and auth scope, such as for "
                "teams and projects", "name": "namespace", "in": "path", "required": True}
    name_param = {"uniqueItems": True, "type": "string", "description": f"name of the {rt.kind}",
                  "name": "name", "in": "path", "required": True}
    patch_types = ["application/json-patch+json", "application/merge-patch+json"] + \
        (["application/strategic-merge-patch+json"] if rt.crd is None else []) + ["application/apply-patch+yaml"]
    scoped = [ns_param] if rt.namespaced else []
    paths = {
        base: {
            "get": op("list", "list", f"list or watch objects of kind {rt.kind}", LIST_PARAMS,
                      rt.schema_name + "List", scope=scope),
            "post": op("post", "create", f"create a {rt.kind}", WRITE_PARAMS, rt.schema_name,
                       body=rt.schema_name, codes=("200", "201", "202"), scope=scope),
            "delete": op("deletecollection", "delete", f"delete collection of {rt.kind}",
                         ["dryRun", "gracePeriodSeconds", "propagationPolicy"] + LIST_PARAMS, meta + "Status",
                         body=meta + "DeleteOptions", scope="Collection" + scope),
            "parameters": scoped},
        f"{base}/{{name}}": {
            "get": op("get", "read", f"read the specified {rt.kind}", [], rt.schema_name, scope=scope),
            "put": op("put", "replace", f"replace the specified {rt.kind}", WRITE_PARAMS, rt.schema_name,
                      body=rt.schema_name, codes=("200", "201"), scope=scope),
            "patch": op("patch", "patch", f"partially update the specified {rt.kind}", WRITE_PARAMS + ["force"],
                        rt.schema_name, body=meta + "Patch", consumes=patch_types, codes=("200", "201"),
                        scope=scope),
            "delete": op("delete", "delete", f"delete a {rt.kind}",
                         ["dryRun", "gracePeriodSeconds", "propagationPolicy"], meta + "Status",
                         body=meta + "DeleteOptions", codes=("200", "202"), scope=scope),
            "parameters": [name_param] + scoped},
    }
    if rt.status:
        paths[f"{base}/{{name}}/status"] = {
            "get": op("get", "read", f"read status of the specified {rt.kind}", [], rt.schema_name,
                      scope=scope),
            "put": op("put", "replace", f"replace status of the specified {rt.kind}", WRITE_PARAMS,
                      rt.schema_name, body=rt.schema_name, codes=("200", "201"), scope=scope),
            "patch": op("patch", "patch", f"partially update status of the specified {rt.kind}",
                        WRITE_PARAMS + ["force"], rt.schema_name, body=meta + "Patch", consumes=patch_types,
                        codes=("200", "201"), scope=scope),
            "parameters": [name_param] + scoped}
        for method in ("get", "put", "patch"):
            paths[f"{base}/{{name}}/status"][method]["operationId"] += "Status"
    if rt.namespaced:
        paths[f"{prefix}/{rt.plural}"] = {
            "get": op("list", "list", f"list or watch objects of kind {rt.kind}", LIST_PARAMS,
                      rt.schema_name + "List")}
        paths[f"{prefix}/{rt.plural}"]["get"]["operationId"] += "ForAllNamespaces"
    return paths


def openapi_v2(store):
    """The Swagger 2.0 document of everything served: the built-in kinds' and
    every stored CRD's, with their lists, x-kubernetes-group-version-kind on
    each, and their paths."""
    definitions = copy.deepcopy(V2_BUILTIN_DEFINITIONS)
    paths = {}
    for rt in sorted(store.types.values(), key=lambda r: (r.group, r.version, r.plural)):
        gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
        if rt.crd is not None:
            definitions[rt.schema_name] = crd_definition_v2(rt)
        elif rt.schema_name in definitions:
            definitions[rt.schema_name]["x-kubernetes-group-version-kind"] = [gvk]
        else:
            continue  # a built-in type without a definition is left out (kubectl then skips it)
        definitions[rt.schema_name + "List"] = {
            "description": f"{rt.list_kind} is a list of {rt.kind}", "type": "object", "required": ["items"],
            "properties": {
                **copy.deepcopy(TYPE_META_V2),
                "items": {"type": "array", "items": {"$ref": f"#/definitions/{rt.schema_name}"}},
                "metadata": {"$ref": f"#/definitions/{V2_META}ListMeta"}},
            "x-kubernetes-group-version-kind": [{**gvk, "kind": rt.list_kind}]}
        paths.update(openapi_v2_paths(rt))
    for name in ("Status", "DeleteOptions", "WatchEvent"):
        definitions[V2_META + name]["x-kubernetes-group-version-kind"] = [
            {"group": "", "kind": name, "version": "v1"}]
    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
           "paths": paths, "definitions": definitions,
           "securityDefinitions": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                   "name": "authorization", "in": "header"}},
           "security": [{"BearerToken": []}]}
    return json.loads(json.dumps(doc, sort_keys=True))  # maps in key order, as Go writes them


# Its protobuf form (application/com.github.proto-openapi.spec.v2@v1.0+protobuf):
# gnostic's openapi.v2.Document, as the real server makes it from the JSON;
# field numbers from gnostic's OpenAPIv2.proto. Values of vendor extensions,
# defaults and enums are YAML texts. proto3: zero values are left out.


def _pb_varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _pb_len(number, data):
    return _pb_varint(number << 3 | 2) + _pb_varint(len(data)) + data


def _pb_str(number, s):
    return _pb_len(number, s.encode()) if s else b""


def _pb_strs(number, items):
    return b"".join(_pb_len(number, s.encode()) for s in items or [])


def _pb_int(number, n):
    return _pb_varint(number << 3) + _pb_varint(int(n)) if n else b""


def _pb_bool(number, b):
    return _pb_varint(number << 3) + b"\x01" if b else b""


def _pb_double(number, x):
    return _pb_varint(number << 3 | 1) + struct.pack("<d", float(x)) if x else b""


YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if re.fullmatch(r"[A-Za-z_/][A-Za-z0-9_./-]*", v) and v.lower() not in YAML_WORDS:
        return v
    return json.dumps(v)  # a JSON string is a YAML double-quoted one


def _yaml_lines(v, indent=""):
    """A JSON value in YAML's block style, as gopkg.in/yaml.v2 writes it."""
    inline = lambda x: "{}" if x == {} else "[]" if x == [] else _yaml_scalar(x)  # noqa: E731
    lines = []
    if isinstance(v, dict) and v:
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append(f"{indent}{_yaml_scalar(k)}:")
                lines += _yaml_lines(x, indent + "  " if isinstance(x, dict) else indent)
            else:
                lines.append(f"{indent}{_yaml_scalar(k)}: {inline(x)}")
    elif isinstance(v, list) and v:
        for x in v:
            sub = _yaml_lines(x, indent + "  ")
            lines.append(f"{indent}- {sub[0][len(indent) + 2:]}")
            lines += sub[1:]
    else:
        lines.append(indent + inline(v))
    return lines


def _pb_any(number, value):
    """An openapi.v2.Any: the value as a YAML text (field 2)."""
    return _pb_len(number, _pb_str(2, "\n".join(_yaml_lines(value)) + "\n"))


def _pb_extensions(number, obj):
    """The x- keys of a JSON object as NamedAny {1 name, 2 Any}."""
    return b"".join(_pb_len(number, _pb_str(1, k) + _pb_any(2, v)) for k, v in obj.items() if k.startswith("x-"))


def _pb_schema(s):
    out = [_pb_str(1, s.get("$ref")), _pb_str(2, s.get("format")), _pb_str(3, s.get("title")),
           _pb_str(4, s.get("description")), _pb_any(5, s["default"]) if "default" in s else b"",
           _pb_double(6, s.get("multipleOf")), _pb_double(7, s.get("maximum")),
           _pb_bool(8, s.get("exclusiveMaximum")), _pb_double(9, s.get("minimum")),
           _pb_bool(10, s.get("exclusiveMinimum")), _pb_int(11, s.get("maxLength")),
           _pb_int(12, s.get("minLength")), _pb_str(13, s.get("pattern")), _pb_int(14, s.get("maxItems")),
           _pb_int(15, s.get("minItems")), _pb_bool(16, s.get("uniqueItems")),
           _pb_int(17, s.get("maxProperties")), _pb_int(18, s.get("minProperties")),
           _pb_strs(19, s.get("required")), b"".join(_pb_any(20, e) for e in s.get("enum") or [])]
    addl = s.get("additionalProperties")
    if isinstance(addl, dict):  # AdditionalPropertiesItem: oneof {1 schema, 2 boolean}
        out.append(_pb_len(21, _pb_len(1, _pb_schema(addl))))
    elif isinstance(addl, bool):
        out.append(_pb_len(21, _pb_varint(2 << 3) + _pb_varint(int(addl))))
    if s.get("type"):  # TypeItem {1 repeated value}
        out.append(_pb_len(22, _pb_strs(1, [s["type"]] if isinstance(s["type"], str) else s["type"])))
    items = s.get("items")
    if items is not None:  # ItemsItem {1 repeated schema}
        out.append(_pb_len(23, b"".join(_pb_len(1, _pb_schema(i))
                                        for i in (items if isinstance(items, list) else [items]))))
    out += [_pb_len(24, _pb_schema(a)) for a in s.get("allOf") or []]
    if "properties" in s:  # Properties {1 repeated NamedSchema {1 name, 2 value}}
        out.append(_pb_len(25, b"".join(_pb_len(1, _pb_str(1, k) + _pb_len(2, _pb_schema(v)))
                                        for k, v in s["properties"].items())))
    out += [_pb_str(26, s.get("discriminator")), _pb_bool(27, s.get("readOnly")),
            _pb_any(30, s["example"]) if "example" in s else b"", _pb_extensions(31, s)]
    return b"".join(out)


def _pb_parameter(p):
    """ParametersItem {1 Parameter {1 BodyParameter, 2 NonBodyParameter {3
    query, 4 path sub-schema}}}."""
    if p["in"] == "body":
        body = (_pb_str(1, p.get("description")) + _pb_str(2, p["name"]) + _pb_str(3, "body")
                + _pb_bool(4, p.get("required")) + _pb_len(5, _pb_schema(p.get("schema") or {}))
                + _pb_extensions(6, p))
        return _pb_len(1, _pb_len(1, body))
    if p["in"] == "query":
        sub = (_pb_bool(1, p.get("required")) + _pb_str(2, "query") + _pb_str(3, p.get("description"))
               + _pb_str(4, p["name"]) + _pb_str(6, p.get("type")) + _pb_str(7, p.get("format"))
               + _pb_bool(20, p.get("uniqueItems")) + _pb_extensions(23, p))
        return _pb_len(1, _pb_len(2, _pb_len(3, sub)))
    sub = (_pb_bool(1, p.get("required")) + _pb_str(2, "path") + _pb_str(3, p.get("description"))
           + _pb_str(4, p["name"]) + _pb_str(5, p.get("type")) + _pb_str(6, p.get("format"))
           + _pb_bool(19, p.get("uniqueItems")) + _pb_extensions(22, p))
    return _pb_len(1, _pb_len(2, _pb_len(4, sub)))


def _pb_operation(o):
    responses = b"".join(  # Responses {1 NamedResponseValue {1 name, 2 ResponseValue {1 Response}}}
        _pb_len(1, _pb_str(1, code) + _pb_len(2, _pb_len(1, _pb_str(1, r.get("description")) + (
            _pb_len(2, _pb_len(1, _pb_schema(r["schema"]))) if "schema" in r else b"") + _pb_extensions(5, r))))
        for code, r in o.get("responses", {}).items())
    return b"".join([
        _pb_strs(1, o.get("tags")), _pb_str(2, o.get("summary")), _pb_str(3, o.get("description")),
        _pb_str(5, o.get("operationId")), _pb_strs(6, o.get("produces")), _pb_strs(7, o.get("consumes")),
        b"".join(_pb_len(8, _pb_parameter(p)) for p in o.get("parameters") or []), _pb_len(9, responses),
        _pb_strs(10, o.get("schemes")), _pb_bool(11, o.get("deprecated")), _pb_extensions(13, o)])


OPENAPI_V2_PB = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PB_PATH_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _pb_path_item(item):
    """PathItem {2 get, 3 put, 4 post, 5 delete, 6 options, 7 head, 8 patch,
    9 parameters, 10 extensions}."""
    methods = sorted((n, m) for m, n in PB_PATH_METHODS.items() if m in item)
    return (b"".join(_pb_len(n, _pb_operation(item[m])) for n, m in methods)
            + b"".join(_pb_len(9, _pb_parameter(p)) for p in item.get("parameters") or [])
            + _pb_extensions(10, item))


def openapi_v2_protobuf(doc):
    """The document as gnostic's openapi.v2.Document message."""
    paths = b"".join(  # Paths {2 NamedPathItem {1 name, 2 PathItem}}
        _pb_len(2, _pb_str(1, path) + _pb_len(2, _pb_path_item(item))) for path, item in doc["paths"].items())
    definitions = b"".join(_pb_len(1, _pb_str(1, name) + _pb_len(2, _pb_schema(s)))
                           for name, s in doc["definitions"].items())
    security = b"".join(  # SecurityRequirement {1 NamedStringArray {1 name, 2 StringArray {1 value}}}
        _pb_len(12, b"".join(_pb_len(1, _pb_str(1, k) + _pb_len(2, _pb_strs(1, v))) for k, v in req.items()))
        for req in doc.get("security") or [])
    schemes = b"".join(  # SecurityDefinitions {1 {1 name, 2 SecurityDefinitionsItem {2 ApiKeySecurity}}}
        _pb_len(1, _pb_str(1, k) + _pb_len(2, _pb_len(2, _pb_str(1, d["type"]) + _pb_str(2, d["name"])
                                                      + _pb_str(3, d["in"]) + _pb_str(4, d.get("description")))))
        for k, d in doc.get("securityDefinitions", {}).items())
    info = _pb_str(1, doc["info"]["title"]) + _pb_str(2, doc["info"]["version"])
    return b"".join([_pb_str(1, doc["swagger"]), _pb_len(2, info), _pb_len(8, paths), _pb_len(9, definitions),
                     security, _pb_len(13, schemes), _pb_extensions(16, doc)])


# --- HTTP -------------------------------------------------------------------


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"
    store = None  # set by main()

    def log_message(self, fmt, *args):  # one line per request is written by log()
        pass

    def log(self, code, extra=""):
        sys.stderr.write(f"{self.command} {self.path} {code}{extra}\n")
        sys.stderr.flush()

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # Responses

    def send_json(self, code, obj, headers=None):
        data = dumps(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.log(code)

    def send_bytes(self, code, data, ctype, headers=None):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        if code != 304:
            self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if code != 304:
            self.wfile.write(data)
        self.log(code)

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.log(code)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def dispatch(self):
        store = self.store
        raw = self.read_body()
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        with store.cond:
            store.stats["requests"] += 1
        try:
            self.route(parts, raw)
        except ApiError as e:
            self.send_json(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug here: say so as the real server would, a 500
            traceback.print_exc()
            self.send_json(500, ApiError(500, "InternalError", f"Internal error occurred: {e}").status())

    def body_json(self, raw):
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if self.command in ("POST", "PUT") and ctype == "application/vnd.kubernetes.protobuf":
            return ctype, decode_protobuf(raw)
        if self.command in ("POST", "PUT") and ctype not in ("application/json", "*/*"):
            raise unsupported_media(ctype)
        if not raw:
            return ctype, None
        try:
            return ctype, json.loads(raw)
        except ValueError as e:
            raise bad_request(f"error decoding the request body as JSON: {e}")

    def route(self, parts, raw):
        store = self.store
        if parts == ["version"]:
            return self.send_json(200, VERSION)
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return self.send_text(200, "ok")
        if parts and parts[0] == "_test":
            return self.test_control(parts[1:])
        if parts and parts[0] == "openapi":
            return self.openapi(parts[1:])
        if parts == ["api"]:
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        if parts == ["apis"]:
            with store.cond:
                groups = [api_group(g, vs) for g, vs in store.group_versions().items() if g]
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if len(parts) >= 2 and parts[0] == "api":
            return self.resource(parts[1:], "", raw)
        if len(parts) == 2 and parts[0] == "apis":
            with store.cond:
                versions = store.group_versions().get(parts[1])
            if not versions:
                raise path_not_found()
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", **api_group(parts[1], versions)})
        if len(parts) >= 3 and parts[0] == "apis":
            return self.resource(parts[2:], parts[1], raw)
        raise path_not_found()

    def openapi(self, parts):
        store = self.store
        if parts == ["v3"]:
            with store.cond:
                gvs = [(g, v) for g, vs in store.group_versions().items() for v in vs]
                listed = {gv_path(g, v): {"serverRelativeURL": f"/{gv_path(g, v)}?hash="
                                          f"{doc_hash(openapi_gv(store, g, v))}"} for g, v in gvs}
            for entry in listed.values():
                entry["serverRelativeURL"] = "/openapi/v3" + entry["serverRelativeURL"]
            return self.send_json(200, {"paths": listed})
        if len(parts) >= 3 and parts[0] == "v3":
            rest = parts[1:]
            if rest[0] == "api" and len(rest) == 2:
                group, version = "", rest[1]
            elif rest[0] == "apis" and len(rest) == 3:
                group, version = rest[1], rest[2]
            else:
                raise path_not_found()
            with store.cond:
                doc = openapi_gv(store, group, version)
            return self.send_json(200, doc)
        if parts == ["v2"]:
            return self.openapi_v2()
        raise path_not_found()

    def openapi_v2(self):
        """/openapi/v2 as kube-openapi's handler serves it: JSON or gnostic's
        protobuf, as the Accept header asks (406 for anything else), with an
        ETag (304 when If-None-Match has it)."""
        with self.store.cond:
            doc = openapi_v2(self.store)
        chosen = None
        for part in (self.headers.get("Accept") or "*/*").split(","):
            media = part.split(";")[0].strip().lower()
            if media in ("application/json", "application/*", "*/*"):
                chosen = "json"
            elif media in (OPENAPI_V2_PB, OPENAPI_V2_PB.replace("@", ".")):
                chosen = "protobuf"
            if chosen:
                break
        if chosen is None:
            return self.send_bytes(406, b"", None)
        etag = '"' + doc_hash(doc) + '"'
        headers = {"Etag": etag, "Vary": "Accept"}
        if self.headers.get("If-None-Match") == etag:
            return self.send_bytes(304, b"", None, headers)
        if chosen == "json":
            return self.send_bytes(200, dumps(doc), "application/json", headers)
        return self.send_bytes(200, openapi_v2_protobuf(doc), OPENAPI_V2_PB.replace("@", "."), headers)

    def test_control(self, parts):
        store = self.store
        with store.cond:
            if parts == ["compact"] and self.command == "POST":
                out = {"compacted": store.compact()}
            elif parts == ["release"] and self.command == "POST":
                store.release()
                out = {"released": True}
            elif parts == ["stats"] and self.command == "GET":
                out = copy.deepcopy(store.stats)
            else:
                raise path_not_found()
        self.send_json(200, out)

    # Resources

    def resource(self, rest, group, raw):
        """/api/v1/... or /apis/GROUP/VERSION/...: finds the type, the
        namespace, the name and the subresource, and runs the verb."""
        store = self.store
        version, rest = rest[0], rest[1:]
        ctype, body = self.body_json(raw)
        method = self.command
        if not rest:
            if method != "GET":
                raise method_not_allowed()
            with store.cond:
                out = resource_list(store, group, version)
            return self.send_json(200, out)
        with store.cond:
            ns = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                rt = store.find(group, version, rest[2])
                if rt is not None and rt.namespaced:
                    ns, rest = rest[1], rest[2:]
            rt = store.find(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise path_not_found()
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and not (sub == "status" and rt.status):
            raise path_not_found()
        if rt.namespaced and ns is None and name is not None:
            raise path_not_found()
        everywhere = rt.namespaced and ns is None  # a collection across namespaces: read only
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        verb = {
            "GET": "get" if name else ("watch" if self.query.get("watch") in ("true", "1") else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection",
        }.get(method, method.lower())
        with store.cond:
            used = store.stats["verbs_by_token"].setdefault(token, {})
            what = f"{verb} {group} {rt.plural}{'/' + sub if sub else ''}"
            used[what] = used.get(what, 0) + 1
        if name is None and method == "GET":
            if self.query.get("watch") in ("true", "1"):
                return self.watch(rt, ns)
            return self.list(rt, ns)
        if name is None and method == "DELETE" and not everywhere:
            return self.delete_collection(rt, ns, body)
        mode = self.accept()
        warnings, code = [], 200
        with store.cond:
            if name is None and method == "POST" and not everywhere:
                obj, warnings = store.create(rt, ns, body, self.query)
                code = 201
            elif name is not None and method == "GET":
                obj = store.get(rt, ns, name)
            elif name is not None and method == "PUT":
                obj, warnings, code = store.update(rt, ns, name, body, self.query, sub)
            elif name is not None and method == "PATCH":
                obj, warnings, code = store.patch(rt, ns, name, ctype, body, self.query, sub)
            elif name is not None and method == "DELETE" and sub is None:
                obj, code = store.delete(rt, ns, name, body, self.query)
            else:
                raise method_not_allowed()
            if sub == "status" and method in ("PUT", "PATCH"):
                writes = store.stats["status_writes_by_token"]
                writes[token] = writes.get(token, 0) + 1
            out = self.render(rt, obj, mode)
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(f"299 - {json.dumps(w)}" for w in warnings)
        self.send_json(code, out, headers)

    def accept(self):
        mode = parse_accept(self.headers.get("Accept"))
        if mode is None:
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                           "application/json;as=Table;v=v1;g=meta.k8s.io", {})
        return mode

    def render(self, rt, obj, mode):
        """One object as the client asked: itself, a Table row, or its metadata."""
        if mode[0] == "table":
            return to_table(rt, [obj], obj["metadata"].get("resourceVersion", ""),
                            self.query.get("includeObject", "Metadata"), version=mode[1])
        if mode[0] == "partial":
            return partial_metadata(rt.to_external(obj))
        return rt.to_external(obj)

    def selectors(self, rt):
        return (parse_label_selector(self.query.get("labelSelector")),
                parse_field_selector(self.query.get("fieldSelector"), rt))

    def list(self, rt, ns):
        store = self.store
        labels, fields = self.selectors(rt)
        mode = self.accept()
        with store.cond:
            stats = store.stats["lists"]
            stats[rt.plural] = stats.get(rt.plural, 0) + 1
            items = store.select(rt, ns, labels, fields)
            rv = str(store.rv)
            meta = {"resourceVersion": rv}
            start = 0
            token = self.query.get("continue")
            if token:
                try:
                    cont = json.loads(base64.b64decode(token))
                    rv = meta["resourceVersion"] = cont["rv"]
                except (ValueError, KeyError):
                    raise bad_request("continue key is not valid")
                if int(cont["rv"]) < store.compacted:
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the continue "
                                   "parameter.", {})
                start = next((i for i, o in enumerate(items)
                              if [o["metadata"].get("namespace", ""), o["metadata"]["name"]] > cont["after"]),
                             len(items))
            items = items[start:]
            limit = int(self.query.get("limit") or 0)
            if 0 < limit < len(items):
                last = items[limit - 1]["metadata"]
                meta["continue"] = base64.b64encode(json.dumps(
                    {"rv": rv, "after": [last.get("namespace", ""), last["name"]]}).encode()).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            if mode[0] == "table":
                out = to_table(rt, items, rv, self.query.get("includeObject", "Metadata"), version=mode[1])
                out["metadata"] = meta
            elif mode[0] == "partial":
                out = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                       "items": [partial_metadata(rt.to_external(o)) for o in items]}
            else:
                out = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta,
                       "items": [rt.to_external(o) for o in items]}
        self.send_json(200, out)

    def delete_collection(self, rt, ns, body):
        store = self.store
        labels, fields = self.selectors(rt)
        with store.cond:
            deleted = []
            for obj in store.select(rt, ns, labels, fields):
                gone, _ = store.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], body,
                                       self.query)
                deleted.append(rt.to_external(gone))
            out = {"kind": rt.list_kind, "apiVersion": rt.api_version,
                   "metadata": {"resourceVersion": str(store.rv)}, "items": deleted}
        self.send_json(200, out)

    # Watch

    def chunk(self, obj):
        data = dumps(obj) + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def client_gone(self):
        """Whether the client closed the connection (a watch otherwise only
        learns it when it next writes)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def watch(self, rt, ns):
        """A chunked stream of watch events, from the resourceVersion asked for,
        or the current objects as ADDED; ends on timeoutSeconds, on a
        compaction, or with a 410 ERROR event if the version is expired."""
        store = self.store
        labels, fields = self.selectors(rt)
        mode = self.accept()
        bookmarks = self.query.get("allowWatchBookmarks") in ("true", "1")
        initial_events = self.query.get("sendInitialEvents") in ("true", "1")
        timeout = self.query.get("timeoutSeconds")
        deadline = time.monotonic() + int(timeout) if timeout else None
        since = self.query.get("resourceVersion", "")
        if since not in ("", "0") and not since.isdigit():
            raise bad_request(f'resourceVersion: Invalid value: "{since}": must be a valid integer')
        matches = lambda o: (ns is None or o["metadata"].get("namespace") == ns) and labels_match(labels, o) \
            and fields_match(fields, o, rt)  # noqa: E731

        with store.cond:
            stats = store.stats["watches"]
            stats[rt.plural] = stats.get(rt.plural, 0) + 1
            while store.hold:  # held after a compaction until /_test/release
                store.cond.wait()
            epoch = store.epoch
            expired = since not in ("", "0") and int(since) < store.compacted
            events = []
            if expired:
                store.stats["expired_410"] += 1
                events.append(("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                         "message": f"too old resource version: {since} ({store.compacted})",
                                         "reason": "Expired", "code": 410}))
            elif since in ("", "0") or initial_events:
                events += [("ADDED", o) for o in store.select(rt, ns, labels, fields)]
                last = store.rv
                if initial_events and bookmarks:
                    events.append(("BOOKMARK", self.bookmark(rt, store.rv, initial_end=True)))
            else:
                last = int(since)
            if not expired:
                events += self.pending(rt, last, matches)
                last = store.rv
            store.stats["watches_open"] += 1

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.log(200, " (watch)")
        first = [True]
        try:
            self.send_events(rt, events, mode, first)
            sent = time.monotonic()
            while not expired:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait = max(0.0, sent + 1.0 - now)
                if deadline is not None:
                    wait = min(wait, deadline - now)
                with store.cond:
                    if store.epoch == epoch and store.rv == last and wait > 0:
                        store.cond.wait(wait)
                    if store.epoch != epoch:
                        break  # a compaction ends every open watch
                    events = self.pending(rt, last, matches)
                    last = store.rv
                    if not events and bookmarks and time.monotonic() - sent >= 1.0:
                        # Everything up to `last` has been sent: a bookmark may say so.
                        events = [("BOOKMARK", self.bookmark(rt, last))]
                if events:
                    self.send_events(rt, events, mode, first)
                    sent = time.monotonic()
                elif self.client_gone():
                    break
                elif time.monotonic() - sent >= 1.0:
                    sent = time.monotonic()  # without bookmarks: look at the connection each second
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with store.cond:
                store.stats["watches_open"] -= 1

    def bookmark(self, rt, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}

    def pending(self, rt, since, matches):
        """The history's events after `since` as this watch sees them: an object
        that starts or stops matching its selectors is ADDED or DELETED."""
        store = self.store
        out = []
        start = bisect.bisect_right(store.history_rvs, since)
        for rv, etype, storage, obj, prev in store.history[start:]:
            if storage != rt.storage:
                continue
            now_in, was_in = matches(obj), prev is not None and matches(prev)
            if etype == "MODIFIED":
                etype = "MODIFIED" if now_in and was_in else "ADDED" if now_in else "DELETED" if was_in else None
            elif not now_in:
                etype = None
            if etype:
                out.append((etype, obj))
        return out

    def send_events(self, rt, events, mode, first):
        for etype, obj in events:
            if etype in ("ERROR", "BOOKMARK"):
                out = obj
            elif mode[0] == "table":
                # Column definitions on the first event only, as the real server.
                out = to_table(rt, [obj], obj["metadata"]["resourceVersion"],
                               self.query.get("includeObject", "Metadata"), headers=first[0], version=mode[1])
                first[0] = False
            elif mode[0] == "partial":
                out = partial_metadata(rt.to_external(obj))
            else:
                out = rt.to_external(obj)
            self.chunk({"type": etype, "object": out})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Differences from a real API server:" + DIFFERENCES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    ap.add_argument("--port-file", help="where to write the bound port once listening")
    ap.add_argument("--namespace", action="append", default=[],
                    help="a namespace to create at start (besides default, kube-system, kube-public, "
                         "kube-node-lease); repeatable")
    ap.add_argument("--default-field-validation", choices=["Strict", "Warn", "Ignore"], default="Strict",
                    help="what to do with unknown fields when a request does not say (the real server: Warn)")
    args = ap.parse_args()
    Handler.store = Store(args.namespace, args.default_field_validation)
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    sys.stderr.write(f"kube_apiserver.py listening on http://127.0.0.1:{port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
