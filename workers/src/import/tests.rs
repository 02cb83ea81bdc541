use super::sources::*;
use super::*;

#[test]
fn file_names_from_urls() {
    assert_eq!(name_for("http://h/data/spec%201.fits"), "spec_1.fits");
    let a = name_for("http://h/getSpectrum?id=1");
    let b = name_for("http://h/getSpectrum?id=2");
    assert!(a.starts_with("getSpectrum-") && a != b, "{a} {b}");
    assert_eq!(sanitize("../../etc/passwd"), "_._.._etc_passwd");
    assert_eq!(sanitize(".hidden"), "_hidden");
    assert_eq!(sanitize(""), "file");
}

#[test]
fn ssap_queries_are_encoded() {
    let url = ssap_url(
        "http://h/ssap?SERVICE=x",
        &[("POS", Some("10.5,-3".into())), ("SIZE", Some("0.1".into())), ("BAND", None), ("FORMAT", Some("".into()))],
    );
    assert_eq!(url, "http://h/ssap?SERVICE=x&REQUEST=queryData&POS=10.5%2C-3&SIZE=0.1");
}

#[test]
fn links_are_joined_like_a_browser() {
    assert_eq!(join("http://h/a/b/", "c.fits").unwrap(), "http://h/a/b/c.fits");
    assert_eq!(join("http://h/a/b/index.html", "../c/").unwrap(), "http://h/a/c/");
    assert_eq!(join("http://h/a/b/", "/x").unwrap(), "http://h/x");
    assert_eq!(join("http://h/a/", "https://o/y").unwrap(), "https://o/y");
    assert_eq!(join("http://h/a/", "//o/z").unwrap(), "http://o/z");
    assert_eq!(join("http://h/a/", "mailto:x@y"), None);
    // Absolute links are normalised too, so `/../` cannot climb out of the start.
    assert_eq!(join("http://h/a/b/", "http://h/a/b/../../etc/passwd").unwrap(), "http://h/etc/passwd");
    assert_eq!(join("http://h/a/b/", "/a/b/%2e%2e/%2E%2E/x").unwrap(), "http://h/x");
    assert_eq!(join("http://h/a/b/", "HTTP://H/a/b/c").unwrap(), "http://h/a/b/c");
    assert_eq!(join("http://h/a/b/", "../../../../x").unwrap(), "http://h/x");
    assert_eq!(join("http://h/a/b/", "c\\..\\..\\x"), None);
    assert_eq!(join("http://h/a/b/", "http://h@evil/a/b/x"), None);
    let html = r#"<a href="a.fits">a</a> <A HREF='sub/'>s</A> <a href=b.fits>b</a> <a href="?C=N;O=D">sort</a>"#;
    assert_eq!(links(html), vec!["a.fits", "sub/", "b.fits", "?C=N;O=D"]);
}

#[test]
fn votable_lists_pick_the_access_reference() {
    let mut t = Table::new(
        "t",
        vec![
            Field::new("obs", Datatype::Char),
            Field::new("acref", Datatype::Char).utype("ssa:Access.Reference"),
            Field::new("fmt", Datatype::Char).utype("ssa:Access.Format"),
        ],
    );
    t.push(vec![
        Value::Text("a".into()),
        Value::Text("http://h/s/a.fits".into()),
        Value::Text("application/fits".into()),
    ]);
    t.push(vec![Value::Text("b".into()), Value::Null, Value::Null]);
    t.push(vec![Value::Text("c".into()), Value::Text("http://h/t/a.fits".into()), Value::Null]);
    let (items, skipped) = from_votable(&t.to_bytes(), None, None).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].name, "a.fits");
    assert_eq!(items[1].name, "3-a.fits", "a clash keeps both files");
    assert_eq!(items[0].format.as_deref(), Some("application/fits"));
    assert_eq!(skipped, vec![("row 2".to_string(), "empty access reference".to_string())]);
    let (named, _) = from_votable(&t.to_bytes(), Some("acref"), Some("obs")).unwrap();
    assert_eq!(named[0].name, "a");
    let err = from_votable(&t.to_bytes(), Some("nope"), None).unwrap_err();
    assert!(err.contains("no column matches \"nope\"") && err.contains("acref (ssa:Access.Reference)"), "{err}");
    let mut failed = Table::new("t", vec![Field::new("url", Datatype::Char)]);
    failed.infos.push(("QUERY_STATUS".into(), "ERROR".into()));
    assert!(from_votable(&failed.to_bytes(), None, None).unwrap_err().contains("QUERY_STATUS=ERROR"));
}

#[test]
fn datalink_prefers_this() {
    let mut t = Table::new(
        "links",
        vec![
            Field::new("ID", Datatype::Char),
            Field::new("access_url", Datatype::Char),
            Field::new("semantics", Datatype::Char),
            Field::new("error_message", Datatype::Char),
        ],
    );
    t.push(vec![
        Value::Text("x".into()),
        Value::Text("http://h/preview.png".into()),
        Value::Text("#preview".into()),
        Value::Null,
    ]);
    t.push(vec![
        Value::Text("x".into()),
        Value::Text("http://h/x.fits".into()),
        Value::Text("#this".into()),
        Value::Null,
    ]);
    assert_eq!(datalink_target(&t.to_bytes()).unwrap(), "http://h/x.fits");
    t.rows = vec![vec![
        Value::Text("x".into()),
        Value::Null,
        Value::Text("#this".into()),
        Value::Text("NotFoundFault: x".into()),
    ]];
    assert!(datalink_target(&t.to_bytes()).unwrap_err().contains("NotFoundFault"));
    assert!(is_datalink(Some("application/x-votable+xml; content=datalink")));
    assert!(!is_datalink(Some("application/fits")));
}

#[test]
fn folders_stay_inside_storage() {
    for bad in ["/etc", "../x", "a/../../b", "a/./b", "a\\b", ""] {
        assert!(check_folder(bad).is_err(), "{bad:?}");
    }
    assert!(check_folder("spectra/2024 run").is_ok());
}
