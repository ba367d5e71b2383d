//! The part of POSIX shell syntax a server's `sh -c "..."` script is written in: words split
//! on unquoted blanks, `'...'` and `"..."` quoting, backslash escapes, `$NAME` / `${NAME}`
//! parameter expansion, and the command separators `;`, `&&`, `||`, `|`, `&` and newlines
//! (POSIX.1-2017, XCU 2.2 "Quoting", 2.3 "Token Recognition", 2.6.2 "Parameter Expansion").
//!
//! What it does not do it says: a command substitution (`$(...)`, backquotes) or a positional
//! parameter (`$1`, `$@`) is a piece of unknown value (an argument holding one cannot be read);
//! `${NAME:-default}` and other operators, subshells, unterminated quotes and quoted
//! redirection targets make the script unreadable, reported, never guessed at. Glob
//! characters are kept literally (they only match files). Each word keeps its byte span in the script, so a patch can
//! rewrite one word in place.

/// One piece of a word: literal text, or a parameter to expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Text(String),
    Var(String),
}

/// One shell word: its pieces and its byte span in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) pieces: Vec<Piece>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Word {
    /// The word with each variable expanded by `lookup`; `Err(name)` for the first variable
    /// `lookup` cannot give.
    pub(super) fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(&lookup(v).ok_or_else(|| v.clone())?),
            }
        }
        Ok(out)
    }
}

/// Splits `script` into simple commands (lists of words), or says what it cannot read.
pub(super) fn commands(script: &str) -> Result<Vec<Vec<Word>>, String> {
    let mut out: Vec<Vec<Word>> = vec![Vec::new()];
    let chars: Vec<(usize, char)> = script.char_indices().collect();
    let mut i = 0;
    let mut word: Option<Word> = None;
    let at = |i: usize| chars.get(i).map_or(script.len(), |&(b, _)| b);

    fn finish(word: &mut Option<Word>, end: usize, out: &mut [Vec<Word>]) {
        if let Some(mut w) = word.take() {
            w.end = end;
            if let Some(last) = out.last_mut() {
                last.push(w);
            }
        }
    }
    /// The word a quote opens or continues, ending in a text piece (so `''` is an empty word).
    fn quoted(word: &mut Option<Word>, start: usize) -> &mut Word {
        let w = word.get_or_insert_with(|| Word { pieces: Vec::new(), start, end: start });
        if !matches!(w.pieces.last(), Some(Piece::Text(_))) {
            w.pieces.push(Piece::Text(String::new()));
        }
        w
    }
    let open = |word: &mut Option<Word>, start: usize| {
        if word.is_none() {
            *word = Some(Word { pieces: Vec::new(), start, end: start });
        }
    };

    while i < chars.len() {
        let (b, c) = chars[i];
        match c {
            ' ' | '\t' => finish(&mut word, b, &mut out),
            '\n' | ';' | '&' | '|' => {
                finish(&mut word, b, &mut out);
                if c == '&' && chars.get(i + 1).is_some_and(|&(_, n)| n == '>') {
                    return Err(format!("redirection '&>' at byte {b} is not read"));
                }
                // `&&`, `||`: one separator.
                if (c == '&' || c == '|') && chars.get(i + 1).is_some_and(|&(_, n)| n == c) {
                    i += 1;
                }
                out.push(Vec::new());
            }
            '#' if word.is_none() => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i].1 != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' => {
                i += 1;
                match chars.get(i) {
                    // Line continuation: removed, the word goes on (or has not begun).
                    Some(&(_, '\n')) => {}
                    Some(&(_, n)) => {
                        open(&mut word, b);
                        push_text(word.as_mut().expect("opened"), n);
                    }
                    None => return Err("the script ends with a lone backslash".into()),
                }
            }
            '\'' | '"' => i = quoted_text(&chars, i, quoted(&mut word, b))?,
            '$' => {
                open(&mut word, b);
                i = dollar(&chars, i, word.as_mut().expect("opened"))?;
            }
            '`' => {
                open(&mut word, b);
                i = backquote(&chars, i, word.as_mut().expect("opened"))?;
            }
            '<' | '>' => {
                // A redirection (`> log`, `2>&1`, `>> f`): a file-descriptor number before it
                // belongs to it; the operator and its target are dropped from the command.
                let digits_only = word.as_ref().is_some_and(|w| match w.pieces.as_slice() {
                    [Piece::Text(t)] => t.chars().all(|d| d.is_ascii_digit()) && script[w.start..b] == *t,
                    _ => false,
                });
                if digits_only {
                    word = None;
                } else {
                    finish(&mut word, b, &mut out);
                }
                while chars.get(i + 1).is_some_and(|&(_, n)| matches!(n, '>' | '<' | '&' | '|')) {
                    i += 1;
                }
                while chars.get(i + 1).is_some_and(|&(_, n)| n == ' ' || n == '\t') {
                    i += 1;
                }
                while let Some(&(p, n)) = chars.get(i + 1) {
                    if matches!(n, ' ' | '\t' | '\n' | ';' | '&' | '|') {
                        break;
                    }
                    if matches!(n, '\'' | '"' | '$' | '`' | '\\') {
                        return Err(format!("a quoted or expanded redirection target at byte {p} is not read"));
                    }
                    i += 1;
                }
            }
            '(' | ')' if word.is_none() => {
                return Err(format!("'{c}' at byte {b} (a subshell) is not read"));
            }
            _ => {
                open(&mut word, b);
                push_text(word.as_mut().expect("opened"), c);
            }
        }
        i += 1;
    }
    finish(&mut word, at(chars.len()), &mut out);
    out.retain(|c| !c.is_empty());
    Ok(out)
}

/// Appends `c` to the word's last text piece (a new one after a variable).
fn push_text(word: &mut Word, c: char) {
    if let Some(Piece::Text(t)) = word.pieces.last_mut() {
        t.push(c);
    } else {
        word.pieces.push(Piece::Text(c.to_string()));
    }
}

/// Reads the quoted text whose opening quote (`'` or `"`) is at `chars[i]` into `w`; returns
/// the index of the closing quote. Inside single quotes every character is literal; inside
/// double quotes `$` and backquotes still expand, and a backslash escapes only `$`, `` ` ``,
/// `"`, `\` and newline (XCU 2.2.2 "Single-Quotes", 2.2.3 "Double-Quotes").
fn quoted_text(chars: &[(usize, char)], i: usize, w: &mut Word) -> Result<usize, String> {
    let (b, quote) = chars[i];
    let double = quote == '"';
    let unterminated = || format!("unterminated {} quote opened at byte {b}", if double { "double" } else { "single" });
    let mut j = i + 1;
    loop {
        match chars.get(j) {
            Some(&(_, c)) if c == quote => return Ok(j),
            Some(&(_, '\\')) if double => {
                j += 1;
                match chars.get(j) {
                    Some(&(_, n @ ('$' | '`' | '"' | '\\'))) => push_text(w, n),
                    Some(&(_, '\n')) => {}
                    Some(&(_, n)) => {
                        push_text(w, '\\');
                        push_text(w, n);
                    }
                    None => return Err(unterminated()),
                }
            }
            Some(&(_, '$')) if double => j = dollar(chars, j, w)?,
            Some(&(_, '`')) if double => j = backquote(chars, j, w)?,
            Some(&(_, n)) => push_text(w, n),
            None => return Err(unterminated()),
        }
        j += 1;
    }
}

/// Reads the command substitution whose backquote is at `chars[i]` into `w` as an unknown
/// piece; returns the index of the closing backquote.
fn backquote(chars: &[(usize, char)], i: usize, w: &mut Word) -> Result<usize, String> {
    let mut j = i + 1;
    let mut text = String::from("`");
    while let Some(&(_, c)) = chars.get(j) {
        text.push(c);
        if c == '`' {
            w.pieces.push(Piece::Var(text));
            return Ok(j);
        }
        j += 1;
    }
    Err(format!("unterminated '`' at byte {}", chars[i].0))
}

/// Reads the parameter expansion whose `$` is at `chars[i]` into `w`; returns the index of its
/// last character.
fn dollar(chars: &[(usize, char)], i: usize, w: &mut Word) -> Result<usize, String> {
    let b = chars[i].0;
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some(&(_, '{')) => {
            let mut j = i + 2;
            let mut name = String::new();
            while let Some(&(_, c)) = chars.get(j) {
                if c == '}' {
                    break;
                }
                if !name_char(c) {
                    return Err(format!("'${{{name}{c}...' at byte {b}: only ${{NAME}} is read, not its operators"));
                }
                name.push(c);
                j += 1;
            }
            if chars.get(j).is_none() || name.is_empty() {
                return Err(format!("unterminated or empty '${{' at byte {b}"));
            }
            w.pieces.push(Piece::Var(name));
            Ok(j)
        }
        Some(&(_, '(')) => {
            // Command substitution: its output is unknown; the word holds an unknown piece.
            let mut depth = 0usize;
            let mut j = i + 1;
            let mut text = String::from("$");
            while let Some(&(_, c)) = chars.get(j) {
                text.push(c);
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if chars.get(j).is_none() {
                return Err(format!("unterminated '$(' at byte {b}"));
            }
            w.pieces.push(Piece::Var(text));
            Ok(j)
        }
        Some(&(_, c)) if name_char(c) && !c.is_ascii_digit() => {
            let mut j = i + 1;
            let mut name = String::new();
            while let Some(&(_, c)) = chars.get(j).filter(|&&(_, c)| name_char(c)) {
                name.push(c);
                j += 1;
            }
            w.pieces.push(Piece::Var(name));
            Ok(j - 1)
        }
        Some(&(_, c)) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
            // A positional or special parameter: its value is not in the object.
            w.pieces.push(Piece::Var(c.to_string()));
            Ok(i + 1)
        }
        // A lone `$` is literal.
        _ => {
            if let Some(Piece::Text(t)) = w.pieces.last_mut() {
                t.push('$');
            } else {
                w.pieces.push(Piece::Text("$".into()));
            }
            Ok(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<Vec<String>> {
        commands(script)
            .unwrap()
            .iter()
            .map(|c| c.iter().map(|w| w.expand(|v| Some(format!("<{v}>"))).unwrap()).collect())
            .collect()
    }

    #[test]
    fn splits_quotes_escapes_and_separators_as_posix_sh_does() {
        assert_eq!(
            texts("pip install x && exec vllm serve 'a b' \"c $M\"d\\ e ; echo ${X}"),
            vec![vec!["pip", "install", "x"], vec!["exec", "vllm", "serve", "a b", "c <M>d e"], vec!["echo", "<X>"]]
        );
        assert_eq!(texts("a \\\n  b # comment\nc"), vec![vec!["a", "b"], vec!["c"]]);
        // Single quotes keep `$` and `\` literal; double quotes expand `$`, and their backslash
        // escapes `$` but stays before any other character.
        assert_eq!(texts("echo '$X \\' \"a\\b \\$x $Y\""), vec![vec!["echo", "$X \\", "a\\b $x <Y>"]]);
        assert_eq!(
            texts("vllm serve m 2>&1 | tee /log/x; a >/dev/null b"),
            vec![vec!["vllm", "serve", "m"], vec!["tee", "/log/x"], vec!["a", "b"]]
        );
    }

    #[test]
    fn substitutions_and_positional_parameters_are_unknown_pieces_of_their_word_only() {
        let c = commands("a --n=$(LWS_GROUP_SIZE); vllm serve m `x` $0 $@").unwrap();
        let unknown = |w: &Word| w.expand(|_| None).err();
        assert_eq!(unknown(&c[0][1]).as_deref(), Some("$(LWS_GROUP_SIZE)"));
        assert_eq!(
            c[1].iter().map(|w| unknown(w).is_some()).collect::<Vec<_>>(),
            [false, false, false, true, true, true]
        );
    }

    #[test]
    fn word_spans_cover_the_word_in_the_script() {
        let s = "vllm serve m --max-model-len \"8192\"";
        let c = commands(s).unwrap();
        let w = &c[0][4];
        assert_eq!(&s[w.start..w.end], "\"8192\"");
    }

    #[test]
    fn what_is_not_read_is_said() {
        for (s, word) in [
            ("vllm serve $(cat /m", "$("),
            ("vllm serve `cat /m", "`"),
            ("echo ${M:-x}", "operators"),
            ("echo 'open", "single quote"),
            ("echo \"open \\\"", "double quote"),
            ("vllm serve > \"$LOG\"", "redirection"),
            ("(vllm serve m)", "subshell"),
        ] {
            let e = commands(s).unwrap_err();
            assert!(e.contains(word), "{s}: {e}");
        }
    }
}
