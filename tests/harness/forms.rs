//! Just enough HTML reading to fill pfid's forms the way a browser would: find a form,
//! keep its hidden fields (CSRF token, the pending request), set visible ones, submit.

/// One `<form>` of a page.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub fields: Vec<(String, String)>,
    /// Submit buttons: (name, value, label).
    pub buttons: Vec<(String, String, String)>,
}

/// Decodes the character references pfid's templates produce (numeric and the usual
/// named ones).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of one tag's text (`<input a="b" c>`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let body = tag.trim_start_matches('<');
    let mut rest = body
        .split_once(char::is_whitespace)
        .map(|(_, r)| r)
        .unwrap_or("");
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('>') || rest.starts_with("/>") {
            break;
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '>')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        if let Some(after) = rest.strip_prefix('=') {
            let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"').unwrap_or(q.len());
                (&q[..end], &q[(end + 1).min(q.len())..])
            } else {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push((name, unescape(value)));
            rest = remaining;
        } else {
            out.push((name, String::new()));
        }
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Form {
    /// Every form on a page, in order.
    pub fn all(html: &str) -> Vec<Form> {
        let mut forms = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find("<form") {
            let after = &rest[start..];
            let end = after.find("</form>").unwrap_or(after.len());
            let chunk = &after[..end];
            let open_end = chunk.find('>').unwrap_or(chunk.len());
            let fattrs = attributes(&chunk[..open_end]);
            let mut form = Form {
                action: attr(&fattrs, "action").unwrap_or("").to_owned(),
                method: attr(&fattrs, "method")
                    .unwrap_or("get")
                    .to_ascii_lowercase(),
                fields: Vec::new(),
                buttons: Vec::new(),
            };
            let mut inner = &chunk[open_end..];
            while let Some(i) = inner.find('<') {
                inner = &inner[i..];
                let tag_end = inner.find('>').unwrap_or(inner.len());
                let tag = &inner[..tag_end];
                if tag.starts_with("<input") {
                    let a = attributes(tag);
                    let kind = attr(&a, "type").unwrap_or("text");
                    if let Some(name) = attr(&a, "name") {
                        let value = attr(&a, "value").unwrap_or("").to_owned();
                        let include = match kind {
                            "radio" | "checkbox" => a.iter().any(|(k, _)| k == "checked"),
                            "submit" => false,
                            _ => true,
                        };
                        if include {
                            form.fields.push((name.to_owned(), value));
                        }
                    }
                } else if tag.starts_with("<button") {
                    let a = attributes(tag);
                    let label_end = inner.find("</button>").unwrap_or(tag_end);
                    let label = inner[(tag_end + 1).min(label_end)..label_end]
                        .trim()
                        .to_owned();
                    form.buttons.push((
                        attr(&a, "name").unwrap_or("").to_owned(),
                        attr(&a, "value").unwrap_or("").to_owned(),
                        label,
                    ));
                } else if tag.starts_with("<textarea") || tag.starts_with("<select") {
                    let a = attributes(tag);
                    if let Some(name) = attr(&a, "name") {
                        form.fields.push((name.to_owned(), String::new()));
                    }
                }
                inner = &inner[tag_end.min(inner.len())..];
                if inner.is_empty() {
                    break;
                }
                inner = &inner[1..];
            }
            forms.push(form);
            rest = &after[end..];
        }
        forms
    }

    /// The form whose action is `action`.
    pub fn find(html: &str, action: &str) -> Form {
        Form::all(html)
            .into_iter()
            .find(|f| f.action == action || f.action.starts_with(&format!("{action}?")))
            .unwrap_or_else(|| panic!("no form with action {action} in page:\n{html}"))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a field (adding it when the page had it unset, like an unchecked radio).
    pub fn set(mut self, name: &str, value: &str) -> Form {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some(f) => f.1 = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// Submits the form as if its button labelled `label` was pressed.
    pub async fn submit_with(
        &self,
        client: &reqwest::Client,
        base: &str,
        label: &str,
    ) -> reqwest::Response {
        let mut fields = self.fields.clone();
        let button = self
            .buttons
            .iter()
            .find(|(_, _, l)| l == label)
            .unwrap_or_else(|| panic!("no button {label:?} in form {:?}", self.action));
        if !button.0.is_empty() {
            fields.push((button.0.clone(), button.1.clone()));
        }
        let url = if self.action.starts_with("http") {
            self.action.clone()
        } else {
            format!("{base}{}", self.action)
        };
        client
            .post(url)
            .form(&fields)
            .send()
            .await
            .expect("form submission")
    }

    /// Submits with the form's only (or first) button.
    pub async fn submit(&self, client: &reqwest::Client, base: &str) -> reqwest::Response {
        let label = self
            .buttons
            .first()
            .map(|b| b.2.clone())
            .unwrap_or_default();
        if label.is_empty() && self.buttons.is_empty() {
            let url = format!("{base}{}", self.action);
            return client
                .post(url)
                .form(&self.fields)
                .send()
                .await
                .expect("form submission");
        }
        self.submit_with(client, base, &label).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_buttons() {
        let html = r#"<form method="post" action="/x"><input type="hidden" name="t" value="a&#38;b&amp;c&#x2f;">
            <input name="u" type="text" value=""><input type="radio" name="r" value="1">
            <input type="radio" name="r" value="2" checked><button type="submit" name="d" value="ok">Go</button></form>"#;
        let f = Form::find(html, "/x");
        assert_eq!(f.get("t"), Some("a&b&c/"));
        assert_eq!(f.get("r"), Some("2"));
        assert_eq!(f.buttons[0], ("d".into(), "ok".into(), "Go".into()));
    }
}
