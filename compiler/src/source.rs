//! The files a lint read, so that diagnostics can be rendered later.

use hacmp_grammar::span::LineIndex;

/// Index of a file in a [`SourceMap`].
pub type FileId = usize;

#[derive(Debug)]
pub struct SourceFile {
    /// The path as shown to the user.
    pub name: String,
    /// The text, when it could be read as UTF-8 (empty otherwise).
    pub text: String,
    index: std::sync::OnceLock<LineIndex>,
}

impl SourceFile {
    pub fn line_index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        self.line_index().line_col(&self.text, offset)
    }
}

#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
            index: std::sync::OnceLock::new(),
        });
        self.files.len() - 1
    }

    /// Sets the text of a file added before its text was free to move.
    pub fn fill(&mut self, id: FileId, text: String) {
        if let Some(f) = self.files.get_mut(id) {
            f.text = text;
            f.index = std::sync::OnceLock::new();
        }
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate()
    }
}
