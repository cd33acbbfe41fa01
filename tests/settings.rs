//! The settings table in docs/server.md is the one in the code
//! (`config::SETTINGS`, which `--help` prints): a changed setting fails here
//! until the docs say the same, and the failure prints the table to paste.

use std::fmt::Write as _;

use moscow_time::config::SETTINGS;

const DOC: &str = "docs/server.md";
const BEGIN: &str = "<!-- settings:begin -->\n";
const END: &str = "<!-- settings:end -->";

/// The markdown table the docs must hold between the markers.
fn expected_table() -> String {
    let mut table = String::from("| Variable | Default | Meaning |\n| --- | --- | --- |\n");
    for s in &SETTINGS {
        // Writing to a String cannot fail.
        let _ = writeln!(table, "| `{}` | `{}` | {} |", s.name, s.default, s.meaning);
    }
    table
}

#[test]
fn docs_list_every_setting_as_the_code_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/server.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{DOC}: {err}"));
    let (table, _) = doc
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .unwrap_or_else(|| panic!("{DOC} has no {BEGIN:?} ... {END:?} block"));
    let expected = expected_table();
    assert!(
        table == expected,
        "the settings table in {DOC} differs from config::SETTINGS; between the markers it should read:\n\n\
         {BEGIN}{expected}{END}\n"
    );
}

#[test]
fn no_meaning_breaks_the_table() {
    for s in &SETTINGS {
        for text in [s.name, s.default, s.meaning] {
            assert!(!text.contains(['|', '\n']), "{}: {text:?}", s.name);
        }
    }
}
