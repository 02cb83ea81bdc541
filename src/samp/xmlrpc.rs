//! XML-RPC as SAMP uses it: only strings, lists and maps.
//!
//! Writing emits nothing but `<string>`, `<array>` and `<struct>`, in ASCII (the JSAMP hub inside
//! TOPCAT faults on typed values and on any non-ASCII character). Reading is lenient: untyped
//! `<value>text</value>`, empty values, and typed scalars (`<int>`, `<boolean>`, `<double>`, which
//! the astropy hub passes through) all become strings; faults carry an `<int>` code.

use quick_xml::Reader;
use quick_xml::events::Event;

/// A SAMP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    List(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    pub fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A map member (maps keep their order; the first match wins).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// Replaces what SAMP strings cannot carry: accented Latin letters lose their accents
/// (`Ondřejov` → `Ondrejov`), anything else non-ASCII or control becomes `?`.
pub fn ascii(text: &str) -> String {
    const FROM: &str = "ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćČčĎďĐđÈÉÊËèéêëĒēĚěĘęÌÍÎÏìíîïĪīĹĺĽľŁłÑñŃńŇňÒÓÔÕÖØòóôõöøŌōŐőŔŕŘřŚśŠšŞşŤťŢţÙÚÛÜùúûüŪūŮůŰűÝýÿŹźŻżŽž";
    const TO: &str = "AAAAAAaaaaaaAaAaAaCcCcCcDdDdEEEEeeeeEeEeEeIIIIiiiiIiLlLlLlNnNnNnOOOOOOooooooOoOoRrRrSsSsSsTtTtUUUUuuuuUuUuUuYyyZzZzZz";
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') { '?' } else { c }
            } else {
                FROM.chars().position(|f| f == c).and_then(|i| TO.chars().nth(i)).unwrap_or('?')
            }
        })
        .collect()
}

fn escape(text: &str) -> String {
    ascii(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push_str("<value><string>");
            out.push_str(&escape(s));
            out.push_str("</string></value>");
        }
        Value::List(items) => {
            out.push_str("<value><array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array></value>");
        }
        Value::Map(members) => {
            out.push_str("<value><struct>");
            for (name, v) in members {
                out.push_str("<member><name>");
                out.push_str(&escape(name));
                out.push_str("</name>");
                write_value(out, v);
                out.push_str("</member>");
            }
            out.push_str("</struct></value>");
        }
    }
}

pub fn method_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodCall><methodName>");
    out.push_str(&escape(method));
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        write_value(&mut out, p);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out
}

pub fn response(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param>");
    write_value(&mut out, value);
    out.push_str("</param></params></methodResponse>\n");
    out
}

pub fn fault(code: i32, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value><int>{code}</int></value></member>\
         <member><name>faultString</name><value><string>{}</string></value></member>\
         </struct></value></fault></methodResponse>\n",
        escape(message)
    )
}

/// A minimal element tree; XML-RPC documents are small.
#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn parse_tree(xml: &str) -> Result<Element, String> {
    if xml.len() > 64 << 20 {
        return Err("XML-RPC document larger than 64 MiB".into());
    }
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| format!("bad XML-RPC: {e}"))? {
            Event::Start(e) => {
                if stack.len() > 64 {
                    return Err("XML-RPC nested too deeply".into());
                }
                stack.push(Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                stack.last_mut().ok_or("bad XML-RPC")?.children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("bad XML-RPC")?;
                stack.last_mut().ok_or("unbalanced XML-RPC")?.children.push(el);
            }
            Event::Text(t) => {
                stack.last_mut().ok_or("bad XML-RPC")?.text.push_str(&t.decode().map_err(|e| e.to_string())?)
            }
            Event::CData(t) => {
                stack.last_mut().ok_or("bad XML-RPC")?.text.push_str(&t.decode().map_err(|e| e.to_string())?)
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => match r.decode().map_err(|e| e.to_string())?.as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(format!("undefined entity &{other};")),
                    },
                };
                stack.last_mut().ok_or("bad XML-RPC")?.text.push_str(&s);
            }
            Event::DocType(_) => return Err("DOCTYPE not accepted in XML-RPC".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("XML-RPC document ends inside an element".into());
    }
    stack.pop().and_then(|root| root.children.into_iter().next()).ok_or_else(|| "empty XML-RPC document".into())
}

fn to_value(value: &Element) -> Value {
    let Some(typed) = value.children.first() else { return Value::Str(value.text.clone()) };
    match typed.name.as_str() {
        "array" => {
            Value::List(typed.child("data").map(|d| d.children.iter().map(to_value).collect()).unwrap_or_default())
        }
        "struct" => Value::Map(
            typed
                .children
                .iter()
                .filter(|m| m.name == "member")
                .map(|m| {
                    let name = m.child("name").map(|n| n.text.clone()).unwrap_or_default();
                    (name, m.child("value").map(to_value).unwrap_or(Value::Str(String::new())))
                })
                .collect(),
        ),
        "boolean" => Value::Str(if typed.text.trim() == "1" { "1" } else { "0" }.into()),
        "int" | "i4" | "i8" | "double" => Value::Str(typed.text.trim().to_string()),
        "nil" => Value::Str(String::new()),
        _ => Value::Str(typed.text.clone()),
    }
}

/// A parsed `methodCall`.
pub fn parse_call(xml: &str) -> Result<(String, Vec<Value>), String> {
    let root = parse_tree(xml)?;
    if root.name != "methodCall" {
        return Err(format!("expected methodCall, got <{}>", root.name));
    }
    let method = root.child("methodName").map(|m| m.text.trim().to_string()).ok_or("methodCall without methodName")?;
    let params = root
        .child("params")
        .map(|ps| ps.children.iter().filter_map(|p| p.child("value")).map(to_value).collect())
        .unwrap_or_default();
    Ok((method, params))
}

/// A parsed `methodResponse`: the value, or the fault's text.
pub fn parse_response(xml: &str) -> Result<Result<Value, String>, String> {
    let root = parse_tree(xml)?;
    if root.name != "methodResponse" {
        return Err(format!("expected methodResponse, got <{}>", root.name));
    }
    if let Some(f) = root.child("fault") {
        let v = f.child("value").map(to_value).unwrap_or(Value::Str(String::new()));
        let text = v.get_str("faultString").unwrap_or("unknown fault").to_string();
        return Ok(Err(text));
    }
    let value = root
        .child("params")
        .and_then(|ps| ps.child("param"))
        .and_then(|p| p.child("value"))
        .map(to_value)
        .unwrap_or(Value::Str(String::new()));
    Ok(Ok(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_ascii_strings_lists_and_maps() {
        let msg = Value::map(&[
            ("samp.mtype", Value::str("table.load.votable")),
            (
                "samp.params",
                Value::map(&[
                    ("name", Value::str("Ondřejov <2m> & more")),
                    ("rows", Value::List(vec![Value::str("0")])),
                ]),
            ),
        ]);
        let xml = method_call("samp.hub.notifyAll", &[Value::str("key"), msg.clone()]);
        assert!(xml.is_ascii());
        assert!(!xml.contains("<int>") && !xml.contains("<boolean>") && !xml.contains("<nil"));
        assert!(xml.contains("Ondrejov &lt;2m&gt; &amp; more"), "{xml}");
        let (method, params) = parse_call(&xml).unwrap();
        assert_eq!(method, "samp.hub.notifyAll");
        assert_eq!(params[1].get("samp.params").unwrap().get_str("name"), Some("Ondrejov <2m> & more"));
    }

    #[test]
    fn reads_leniently() {
        let xml = "<?xml version='1.0'?><methodCall><methodName>samp.client.receiveNotification</methodName>\n<params>\
                   <param><value>k</value></param><param><value/></param>\
                   <param><value><struct><member><name>n</name><value><int>5</int></value></member>\
                   <member><name>b</name><value><boolean>1</boolean></value></member>\
                   <member><name>u</name><value><string>Ond&#345;ejov</string></value></member></struct></value></param>\
                   </params></methodCall>";
        let (_, params) = parse_call(xml).unwrap();
        assert_eq!(params[0], Value::str("k"));
        assert_eq!(params[1], Value::str(""));
        assert_eq!(params[2].get_str("n"), Some("5"));
        assert_eq!(params[2].get_str("b"), Some("1"));
        assert_eq!(params[2].get_str("u"), Some("Ondřejov"));
        let fault = parse_response(&fault(1, "Bad password")).unwrap();
        assert_eq!(fault, Err("Bad password".to_string()));
        let ok =
            parse_response("<methodResponse><params><param><value></value></param></params></methodResponse>").unwrap();
        assert_eq!(ok, Ok(Value::str("")));
        assert!(parse_call("<!DOCTYPE x [<!ENTITY a 'b'>]><methodCall/>").is_err());
    }
}
