use super::*;

#[test]
fn writes_fields_rows_nulls_and_escapes() {
    let mut t = Table::new(
        "t",
        vec![
            Field::new("name", Datatype::Char).ucd("meta.id"),
            Field::new("flux", Datatype::Double).unit("erg/s/cm2/Angstrom"),
            Field::new("n", Datatype::Long),
            Field::new("spec", Datatype::Float).array("*"),
        ],
    );
    t.infos.push(("seed".into(), "42".into()));
    t.push(vec![Value::Text("a<b&c".into()), Value::Float(0.1), Value::Int(7), Value::FloatArray(vec![1.0, 2.5])]);
    t.push(vec![Value::Null, Value::Float(f64::NAN), Value::Null, Value::FloatArray(vec![])]);
    let text = String::from_utf8(t.to_bytes()).unwrap();
    assert!(text.contains("<TR><TD>a&lt;b&amp;c</TD><TD>0.1</TD><TD>7</TD><TD>1.0 2.5</TD></TR>"), "{text}");
    assert!(text.contains("<TR><TD></TD><TD>NaN</TD><TD></TD><TD></TD></TR>"), "{text}");
    assert!(text.contains(r#"<FIELD name="name" datatype="char" arraysize="*" ucd="meta.id"/>"#), "{text}");
    assert!(text.contains(r#"<TABLE name="t" nrows="2">"#));
    assert!(text.contains(r#"<INFO name="seed" value="42"/>"#));
}

/// A table using every datatype, fixed and variable arrays, and a null in every column.
pub(crate) fn sample() -> Table {
    let mut t = Table::new(
        "sample",
        vec![
            Field::new("id", Datatype::Char).ucd("meta.id;meta.main").describe("object \"id\" & name"),
            Field::new("ok", Datatype::Boolean),
            Field::new("flag", Datatype::Bit),
            Field::new("b", Datatype::UnsignedByte),
            Field::new("s", Datatype::Short),
            Field::new("i", Datatype::Int).unit("count"),
            Field::new("l", Datatype::Long),
            Field::new("f", Datatype::Float).unit("Angstrom").ucd("em.wl"),
            Field::new("d", Datatype::Double).utype("ssa:Char.SpectralAxis.Coverage.Location.Value"),
            Field::new("code", Datatype::Char).array("4"),
            Field::new("uname", Datatype::UnicodeChar),
            Field::new("spec", Datatype::Double).array("*"),
            Field::new("pix", Datatype::Short).array("3"),
            Field::new("z", Datatype::DoubleComplex),
        ],
    );
    t.description = Some("every datatype".into());
    t.infos.push(("QUERY_STATUS".into(), "OK".into()));
    t.params.push(Param {
        field: Field::new("ra", Datatype::Double).unit("deg").ucd("pos.eq.ra"),
        value: Value::Float(10.5),
    });
    t.params.push(Param { field: Field::new("note", Datatype::Char), value: Value::Text("two\nlines".into()) });
    t.push(vec![
        Value::Text("star <1> & \"q\"".into()),
        Value::Bool(true),
        Value::Bool(true),
        Value::Int(200),
        Value::Int(-12),
        Value::Int(123456),
        Value::Int(-9_007_199_254_740_993),
        Value::Float(6562.5),
        Value::Float(0.1),
        Value::Text("ABCD".into()),
        Value::Text("Žluťoučký".into()),
        Value::FloatArray(vec![1.5, -2.25, 1e300]),
        Value::IntArray(vec![1, 2, 3]),
        Value::FloatArray(vec![1.0, -1.0]),
    ]);
    t.push(vec![Value::Null; 14]);
    // Bits and fixed-size arrays have no null in BINARY; give them values.
    t.rows[1][2] = Value::Bool(false);
    t.rows[1][12] = Value::IntArray(vec![0, 0, 0]);
    t.rows[1][13] = Value::FloatArray(vec![2.0, 0.5]);
    t.push(vec![
        Value::Text("x".into()),
        Value::Bool(false),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(32767),
        Value::Int(-1),
        Value::Int(0),
        Value::Float(-0.5),
        Value::Float(f64::INFINITY),
        Value::Text("AB".into()),
        Value::Text("a".into()),
        Value::FloatArray(vec![]),
        Value::IntArray(vec![-1, 0, 1]),
        Value::FloatArray(vec![0.0, 0.0]),
    ]);
    t
}

#[test]
fn every_encoding_and_version_round_trips() {
    let t = sample();
    for version in [Version::V1_3, Version::V1_4, Version::V1_5] {
        for encoding in [Encoding::TableData, Encoding::Binary, Encoding::Binary2] {
            let mut bytes = Vec::new();
            t.write_as(&mut bytes, version, encoding).unwrap();
            let doc = read(&bytes).unwrap_or_else(|e| panic!("{version:?} {encoding:?}: {e}"));
            assert_eq!(doc.version, version.as_str());
            let back = &doc.tables[0];
            assert_eq!(back.name, "sample");
            assert_eq!(back.params, t.params, "{encoding:?}");
            assert_eq!(back.fields.len(), t.fields.len());
            for (a, b) in back.fields.iter().zip(&t.fields) {
                assert_eq!(
                    (&a.name, a.datatype, &a.unit, &a.ucd, &a.utype),
                    (&b.name, b.datatype, &b.unit, &b.ucd, &b.utype)
                );
            }
            for (r, (got, want)) in back.rows.iter().zip(&t.rows).enumerate() {
                for (c, (g, w)) in got.iter().zip(want).enumerate() {
                    // An empty variable array reads as null in every serialisation.
                    let w = if matches!(w, Value::FloatArray(v) if v.is_empty()) { &Value::Null } else { w };
                    assert_eq!(g, w, "{version:?} {encoding:?} row {r} column {}", t.fields[c].name);
                }
            }
            assert_eq!(back.rows.len(), 3);
        }
    }
}

#[test]
fn binary_declares_integer_null_sentinels_only_when_needed() {
    let mut bytes = Vec::new();
    sample().write_as(&mut bytes, Version::V1_4, Encoding::Binary).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(r#"<FIELD name="i" datatype="int" unit="count"><VALUES null="-2147483648"/></FIELD>"#),
        "{text}"
    );
    assert!(!text.contains(r#"name="pix" datatype="short" arraysize="3"><VALUES"#), "{text}");
}

#[test]
fn mismatched_values_are_errors_in_binary() {
    let mut t = Table::new("t", vec![Field::new("n", Datatype::Short)]);
    t.push(vec![Value::Int(70000)]);
    assert!(t.write_as(&mut Vec::new(), Version::V1_4, Encoding::Binary).is_err());
    t.rows[0][0] = Value::Text("x".into());
    assert!(t.write_as(&mut Vec::new(), Version::V1_4, Encoding::Binary2).is_err());
}

#[test]
fn hostile_xml_is_refused() {
    let lol = r#"<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><VOTABLE><RESOURCE><TABLE><FIELD name="x" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>&b;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;
    assert!(matches!(read(lol.as_bytes()), Err(ReadError::Refused(_))));
    let xxe = r#"<!DOCTYPE v SYSTEM "file:///etc/passwd"><VOTABLE/>"#;
    assert!(matches!(read(xxe.as_bytes()), Err(ReadError::Refused(_))));
    let undefined = r#"<VOTABLE><INFO name="a" value="&ext;"/></VOTABLE>"#;
    assert!(read(undefined.as_bytes()).is_err());
    let deep = format!("<VOTABLE>{}{}</VOTABLE>", "<GROUP>".repeat(100), "</GROUP>".repeat(100));
    assert!(matches!(read(deep.as_bytes()), Err(ReadError::Refused(_))));
    let small = Limits { max_bytes: 10, ..Limits::default() };
    assert!(matches!(read_with(b"<VOTABLE></VOTABLE>", small), Err(ReadError::Refused(_))));
    assert!(matches!(read(b"<html><body>404</body></html>"), Err(ReadError::NotVotable(_))));
    let href = r#"<VOTABLE><RESOURCE><TABLE><FIELD name="x" datatype="int"/><DATA><BINARY><STREAM href="file:///etc/passwd"/></BINARY></DATA></TABLE></RESOURCE></VOTABLE>"#;
    assert!(matches!(read(href.as_bytes()), Err(ReadError::Refused(_))));
    // A lying variable-array count must not allocate gigabytes.
    let liar = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"x\" datatype=\"double\" arraysize=\"*\"/><DATA><BINARY><STREAM encoding=\"base64\">f////w==</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(matches!(read(liar.as_bytes()), Err(ReadError::Data(_))));
    // Absurd fixed sizes and field-less streams end in errors, not overflows or endless loops.
    let huge = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"x\" datatype=\"double\" arraysize=\"99999999999x99999999999\"/><DATA><BINARY><STREAM encoding=\"base64\">AAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(matches!(read(huge.as_bytes()), Err(ReadError::Data(_))));
    let empty = "<VOTABLE><RESOURCE><TABLE><DATA><BINARY2><STREAM encoding=\"base64\">AAAA</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(matches!(read(empty.as_bytes()), Err(ReadError::Data(_))));
    let zero = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"x\" datatype=\"int\" arraysize=\"0\"/><DATA><BINARY><STREAM encoding=\"base64\">AAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(matches!(read(zero.as_bytes()), Err(ReadError::Data(_))));
}

#[test]
fn columns_are_found_by_ucd_utype_or_name() {
    let t = Table::new(
        "t",
        vec![
            Field::new("name", Datatype::Char),
            Field::new("link", Datatype::Char).ucd("meta.ref.url"),
            Field::new("acc", Datatype::Char).utype("ssa:Access.Reference"),
        ],
    );
    assert_eq!(t.column("meta.ref.url"), Some(1));
    assert_eq!(t.column("SSA:Access.Reference"), Some(2));
    assert_eq!(t.column("NAME"), Some(0));
    assert_eq!(t.column("nope"), None);
}

#[test]
fn mangled_documents_never_panic() {
    // Deterministic mutations of valid documents in every serialisation: any result but a panic.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for encoding in [Encoding::TableData, Encoding::Binary, Encoding::Binary2] {
        let mut doc = Vec::new();
        sample().write_as(&mut doc, Version::V1_4, encoding).unwrap();
        for _ in 0..400 {
            let mut bytes = doc.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % bytes.len();
                let alphabet = b"AZaz09+/=<>&\"' x*\n\x00\xff";
                bytes[i] = alphabet[(next() as usize) % alphabet.len()];
            }
            let _ = read(&bytes);
            let cut = (next() as usize) % bytes.len();
            let _ = read(&bytes[..cut]);
        }
    }
}

/// The issue 11 attack: 20,000 FIELDs and 200,000 empty rows (138 KB) used to become 1.1 GB of
/// null cells. Short rows are refused as astropy refuses them (E21), and what cells a document
/// does hold are counted against a small multiple of its size.
#[test]
fn rows_without_their_cells_and_cells_beyond_the_input_are_refused() {
    use base64::Engine as _;
    let fields: String = (0..20_000).map(|i| format!("<FIELD name=\"f{i}\" datatype=\"double\"/>")).collect();
    let doc = |rows: &str| {
        format!(
            "<VOTABLE><RESOURCE><TABLE>{fields}<DATA><TABLEDATA>{rows}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
        )
    };
    let attack = doc(&"<TR/>".repeat(200_000));
    let e = read(attack.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("row 1 has 0 cells for 20000 fields"), "{e}");
    let short = "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><FIELD name=\"b\" datatype=\"int\"/>\
                 <DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
    assert!(read(short.as_bytes()).unwrap_err().to_string().contains("row 1 has 1 cells for 2 fields"));
    // BINARY2 rows of zero-length arrays cost one mask bit per cell: refused by the memory count.
    let empty: String =
        (0..2_000).map(|i| format!("<FIELD name=\"f{i}\" datatype=\"int\" arraysize=\"*\"/>")).collect();
    let row = vec![0u8; 2_000 / 8 + 2_000 * 4];
    let stream = base64::engine::general_purpose::STANDARD.encode(row.repeat(100));
    let text = format!(
        "<VOTABLE><RESOURCE><TABLE>{empty}<DATA><BINARY2><STREAM encoding=\"base64\">{stream}</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
    );
    let tight = Limits { max_memory: 1 << 20, ..Limits::default() };
    assert!(matches!(read_with(text.as_bytes(), tight), Err(ReadError::Refused(m)) if m.contains("memory")));
    assert_eq!(read(text.as_bytes()).unwrap().tables[0].rows.len(), 100, "within the default limits it reads");
}
