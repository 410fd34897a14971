//! `etcd-monitor api openapi|reference`: the OpenAPI document the monitor serves
//! at /api/v1/openapi.json, and docs/api.md made from it.

use serde_json::{Map, Value};

use super::output::out;
use super::ApiCommand;
use crate::web::openapi;

pub fn run(cmd: ApiCommand) -> anyhow::Result<()> {
    match cmd {
        ApiCommand::Openapi => out!("{}\n", openapi::json())?,
        ApiCommand::Reference => out!("{}", reference())?,
    }
    Ok(())
}

/// docs/api.md: each operation in the router's order (method, path, role,
/// summary, parameters, body, answers), then the schemas they name.
fn reference() -> String {
    let doc: Value = serde_json::from_str(openapi::json()).expect("the OpenAPI document is JSON");
    let mut md = String::new();
    md.push_str("# The HTTP API\n\n");
    md.push_str(
        "<!-- Made by `etcd-monitor api reference` from the OpenAPI document; a test fails when the two differ. -->\n\n",
    );
    md.push_str(&format!(
        "The monitor describes its API in an OpenAPI {} document at `{}` (public; `etcd-monitor api openapi` prints the same), from which this page is made. Generate clients from that document rather than from this page.\n\n",
        doc["openapi"].as_str().unwrap_or_default(),
        openapi::PATH
    ));
    md.push_str(&one_line(&doc["info"]["description"]));
    md.push_str("\n\n## Credentials\n\n");
    for (name, scheme) in object(&doc["components"]["securitySchemes"]) {
        md.push_str(&format!(
            "- `{name}`: {}\n",
            one_line(&scheme["description"])
        ));
    }
    md.push_str(&format!(
        "\nThe role each operation needs is its `{}` in the document. A caller without credentials gets 401, one whose role is too low 403, both with the error body below.\n\n",
        openapi::ROLE_EXTENSION
    ));
    md.push_str("## Errors\n\nEvery error answer is JSON:\n\n```json\n{\"error\": {\"code\": \"not_found\", \"message\": \"unknown cluster \\\"nope\\\"\"}}\n```\n\n");
    let codes: Vec<String> = crate::web::ERROR_CODES
        .iter()
        .map(|(code, status)| format!("`{code}` ({status})"))
        .collect();
    md.push_str(&format!(
        "`code` is one per status: {}.\n\n",
        codes.join(", ")
    ));

    let routes = openapi::api_routes();
    md.push_str("## Operations\n\n| Method | Path | Role | Summary |\n| --- | --- | --- | --- |\n");
    let mut operations = Vec::new();
    for route in &routes {
        let method = route.method.as_str().to_ascii_lowercase();
        let op = &doc["paths"][route.path][&method];
        if op.is_null() {
            continue;
        }
        let title = format!("{} {}", route.method, route.path);
        md.push_str(&format!(
            "| {} | [`{}`](#{}) | {} | {} |\n",
            route.method,
            route.path,
            anchor(&title),
            openapi::role_name(route.access),
            cell(&op["summary"])
        ));
        operations.push((title, op));
    }
    for (title, op) in operations {
        md.push_str(&format!("\n### {title}\n\n"));
        md.push_str(&format!("{}\n\n", one_line(&op["summary"])));
        if let Some(description) = op["description"].as_str() {
            md.push_str(&format!("{}\n\n", description.trim()));
        }
        if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
            md.push_str("**Parameters.**\n\n| Name | In | Type | Required | Description |\n| --- | --- | --- | --- | --- |\n");
            for p in params {
                md.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    p["name"].as_str().unwrap_or_default(),
                    p["in"].as_str().unwrap_or_default(),
                    type_of(&p["schema"]),
                    if p["required"] == true { "yes" } else { "no" },
                    cell(&p["description"])
                ));
            }
            md.push('\n');
        }
        if let Some(body) = op["requestBody"].as_object() {
            md.push_str("**Body.**");
            for (media, content) in object(&body["content"]) {
                md.push_str(&format!(" `{media}`: {}", type_of(&content["schema"])));
            }
            if let Some(d) = body.get("description").and_then(Value::as_str) {
                md.push_str(&format!(". {d}"));
            }
            md.push_str("\n\n");
        }
        md.push_str("**Answers.**\n\n| Status | Body | Description |\n| --- | --- | --- |\n");
        for (status, answer) in object(&op["responses"]) {
            let bodies: Vec<String> = object(&answer["content"])
                .iter()
                .map(|(media, content)| format!("{} `{media}`", type_of(&content["schema"])))
                .collect();
            md.push_str(&format!(
                "| {status} | {} | {} |\n",
                if bodies.is_empty() {
                    "none".to_string()
                } else {
                    bodies.join(", ")
                },
                cell(&answer["description"])
            ));
        }
    }

    md.push_str("\n## Schemas\n");
    for (name, schema) in object(&doc["components"]["schemas"]) {
        md.push_str(&format!("\n### {name}\n\n"));
        if let Some(d) = schema["description"].as_str() {
            md.push_str(&format!("{}\n\n", d.trim()));
        }
        let (properties, required) = fields(&doc, &schema);
        if properties.is_empty() {
            md.push_str(&format!("{}\n", type_of(&schema)));
            continue;
        }
        md.push_str("| Field | Type | Required | Description |\n| --- | --- | --- | --- |\n");
        for (field, s) in properties {
            md.push_str(&format!(
                "| `{field}` | {} | {} | {} |\n",
                type_of(&s),
                if required.contains(&field) {
                    "yes"
                } else {
                    "no"
                },
                cell(&s["description"])
            ));
        }
    }
    md
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The properties and required names of an object schema, through `allOf` and
/// references.
fn fields(doc: &Value, schema: &Value) -> (Vec<(String, Value)>, Vec<String>) {
    if let Some(name) = ref_name(schema) {
        return fields(doc, &doc["components"]["schemas"][name]);
    }
    let mut properties: Vec<(String, Value)> = object(&schema["properties"]).into_iter().collect();
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = fields(doc, part);
        properties.extend(p);
        required.extend(r);
    }
    (properties, required)
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

/// A schema in a few words: `string (date-time)`, `[ClusterSummary]`,
/// `integer or null, 1..1000`, with links to the named schemas.
fn type_of(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return format!("[`{name}`](#{})", anchor(name));
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return options.iter().map(type_of).collect::<Vec<_>>().join(" or ");
    }
    if schema["allOf"].is_array() {
        return "object".into();
    }
    let mut text = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    };
    if text.starts_with("array") {
        text = text.replacen("array", &format!("[{}]", type_of(&schema["items"])), 1);
    }
    if let Some(format) = schema["format"].as_str() {
        text.push_str(&format!(" ({format})"));
    }
    if schema["additionalProperties"].is_object() {
        text.push_str(&format!(" of {}", type_of(&schema["additionalProperties"])));
    }
    match (&schema["minimum"], &schema["maximum"]) {
        (Value::Number(min), Value::Number(max)) => text.push_str(&format!(", {min}..{max}")),
        (Value::Number(min), _) if min.as_u64() != Some(0) => {
            text.push_str(&format!(", at least {min}"))
        }
        _ => {}
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect();
        text.push_str(&format!(", one of {}", values.join(", ")));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        text.push_str(&format!(", matching `{pattern}`"));
    }
    if let Some(n) = schema["minLength"].as_u64() {
        text.push_str(&format!(", at least {n} long"));
    }
    if let Some(n) = schema["minItems"].as_u64() {
        text.push_str(&format!(", at least {n} item(s)"));
    }
    text.replace('|', "\\|")
}

/// A text for one line: doc comments' line breaks become spaces.
fn one_line(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A text for a table cell.
fn cell(v: &Value) -> String {
    one_line(v).replace('|', "\\|")
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_has_every_operation_with_its_role() {
        let md = reference();
        for route in openapi::api_routes() {
            if route.path == "/api/v1/test/panic" {
                continue;
            }
            let heading = format!("\n### {} {}\n", route.method, route.path);
            assert!(md.contains(&heading), "no {heading:?}");
            assert!(
                md.contains(&format!(
                    "| {} | [`{}`](#{}) | {} |",
                    route.method,
                    route.path,
                    anchor(heading.trim().trim_start_matches("### ")),
                    openapi::role_name(route.access)
                )),
                "{} {} has its row",
                route.method,
                route.path
            );
        }
        assert!(md.contains("\n### ErrorBody\n"), "{md}");
    }

    #[test]
    fn schemas_read_in_a_few_words() {
        let t = |v: Value| type_of(&v);
        assert_eq!(
            t(serde_json::json!({"type": ["integer", "null"], "minimum": 1, "maximum": 1000})),
            "integer or null, 1..1000"
        );
        assert_eq!(
            t(
                serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/Silence"}})
            ),
            "[[`Silence`](#silence)]"
        );
        assert_eq!(
            t(serde_json::json!({"type": "string", "pattern": "^(a|b)$"})),
            "string, matching `^(a\\|b)$`"
        );
        assert_eq!(
            anchor("GET /api/v1/clusters/{name}"),
            "get-apiv1clustersname"
        );
    }
}
