//! Bytes → text (honouring the XML declaration's encoding) → a small element tree in which
//! every element knows its line and column, so every problem can say where it is.

use crate::{Location, Problem};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::path::Path;

/// One element with its position (1-based line and column, columns in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
    pub line: u32,
    pub col: u32,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

impl Element {
    /// The element's name without a namespace prefix.
    pub fn local_name(&self) -> &str {
        local(&self.name)
    }

    /// Attribute by name (with or without a namespace prefix).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name || local(k) == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local_name() == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.local_name() == name)
    }

    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }

    /// Text of a child element, trimmed; `None` when absent or empty.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.trimmed_text().to_string())
            .filter(|t| !t.is_empty())
    }

    /// A value written either `<x value="v"/>` (Stratos policies) or `<x>v</x>`.
    pub fn value(&self) -> Option<&str> {
        self.attr("value")
            .or(Some(self.trimmed_text()))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// Maps byte offsets of the decoded text to line and column.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line as u32 + 1, col as u32 + 1)
    }
}

/// Decode a document: BOM first, then the encoding named in the XML declaration, else UTF-8.
pub fn decode(origin: &Path, bytes: &[u8]) -> Result<String, Problem> {
    let problem = |message: String| Problem {
        location: Location::new(origin, 1, 1),
        message,
    };
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) =
            encoding.decode_without_bom_handling(bytes.get(bom_len..).unwrap_or_default());
        if had_errors {
            return Err(problem(format!(
                "invalid {} byte sequence",
                encoding.name()
            )));
        }
        return Ok(text.into_owned());
    }
    let encoding = declared_encoding(bytes)
        .map(|label| {
            encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                problem(format!("unknown encoding {label:?} in the XML declaration"))
            })
        })
        .transpose()?
        .unwrap_or(encoding_rs::UTF_8);
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(problem(format!(
            "invalid {} byte sequence (declare the right encoding in the XML declaration)",
            encoding.name()
        )));
    }
    Ok(text.into_owned())
}

/// `encoding="..."` from `<?xml ... ?>` at the very start, read as ASCII.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(200))?;
    let head = String::from_utf8_lossy(head);
    let decl = head.strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// The deepest nesting of elements a document may have.
pub const MAX_DEPTH: usize = 256;

/// Parse decoded text into its root element; a syntax error becomes one positioned problem.
pub fn parse(origin: &Path, text: &str) -> Result<Element, Problem> {
    let index = LineIndex::new(text);
    let at = |offset: usize, message: String| {
        let (line, col) = index.position(offset);
        Problem {
            location: Location::new(origin, line, col),
            message,
        }
    };
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let mut offset = reader.error_position() as usize;
                // quick-xml points a mismatched end tag at its `<`; report the `/` after it,
                // which is the column expat (Python, libexpat tools) reports for this error.
                if matches!(
                    &e,
                    quick_xml::Error::IllFormed(
                        quick_xml::errors::IllFormedError::MismatchedEndTag { .. }
                    )
                ) && text.as_bytes().get(offset) == Some(&b'<')
                {
                    offset += 1;
                }
                return Err(at(offset, format!("malformed XML: {e}")));
            }
        };
        match event {
            Event::Start(start) => {
                // Configuration documents are a few levels deep; a document thousands of levels
                // deep is an attack on whatever walks the tree (recursion, drop), not a config.
                if stack.len() >= MAX_DEPTH {
                    return Err(at(
                        before,
                        format!("malformed XML: elements nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let element =
                    new_element(&start, before, &index, &reader).map_err(|m| at(before, m))?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element =
                    new_element(&start, before, &index, &reader).map_err(|m| at(before, m))?;
                attach(&mut stack, &mut root, element).map_err(|m| at(before, m))?;
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| {
                    at(
                        before,
                        "malformed XML: closing tag without an opening tag".into(),
                    )
                })?;
                attach(&mut stack, &mut root, element).map_err(|m| at(before, m))?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let raw = t
                        .unescape()
                        .map_err(|e| at(before, format!("malformed XML: {e}")))?;
                    top.text.push_str(&raw);
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(at(
                        before,
                        "malformed XML: text outside the root element".into(),
                    ));
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(Problem {
            location: Location::new(origin, open.line, open.col),
            message: format!("malformed XML: element <{}> is never closed", open.name),
        });
    }
    root.ok_or_else(|| at(0, "malformed XML: no root element".into()))
}

fn new_element(
    start: &quick_xml::events::BytesStart<'_>,
    offset: usize,
    index: &LineIndex<'_>,
    reader: &Reader<&[u8]>,
) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("malformed XML attribute in <{name}>: {e}"))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| format!("malformed XML attribute {key} in <{name}>: {e}"))?
            .into_owned();
        attrs.push((key, value));
    }
    let (line, col) = index.position(offset);
    Ok(Element {
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
        line,
        col,
    })
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            Ok(())
        }
        None if root.is_none() => {
            *root = Some(element);
            Ok(())
        }
        None => Err("malformed XML: more than one root element".into()),
    }
}
