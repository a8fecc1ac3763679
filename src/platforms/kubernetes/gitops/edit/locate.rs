//! Finding the one value in a read document: a kustomization's image entry
//! and its `digest` field, or a Helm value down its dotted path.

use super::{Doc, EditError, Entry, Kind, Shape, Spot};
use crate::config::kubernetes::ImageSetting;

impl Doc<'_> {
    pub(super) fn locate(&self) -> Result<Spot, EditError> {
        let root: Vec<&Entry> = self.entries.iter().collect();
        match self.setting {
            ImageSetting::Helm { path, .. } => {
                let mut level = self.mapping(&root)?;
                let mut parent = None;
                let Some((last, above)) = path.split_last() else {
                    return Err(self.unsupported(0, "an empty path"));
                };
                for key in above {
                    let e = self.find(&level, key, parent)?;
                    let inner = self.nested(e)?;
                    parent = Some(e.line);
                    level = self.mapping(&inner)?;
                }
                Ok(Spot::Value(self.find(&level, last, parent)?.clone()))
            }
            ImageSetting::Kustomize { image, .. } => self.locate_image(&root, image),
        }
    }

    pub(super) fn locate_image(&self, root: &[&Entry], image: &str) -> Result<Spot, EditError> {
        let level = self.mapping(root)?;
        let images = self.find(&level, "images", None)?;
        let items = self.nested(images)?;
        let Some(first) = items.first() else {
            return Err(self.missing_image(images.line));
        };
        if !first.dash {
            return Err(self.unsupported(first.line, "images: is not a list"));
        }
        let item_indent = first.indent;
        let mut found: Option<(&Entry, Vec<&Entry>, Vec<&Entry>)> = None;
        for (n, &head) in items.iter().enumerate() {
            if head.indent != item_indent {
                continue;
            }
            if !head.dash {
                return Err(
                    self.unsupported(head.line, "a line among the images entries that is not one")
                );
            }
            let below: Vec<&Entry> = items[n + 1..]
                .iter()
                .take_while(|x| x.indent > item_indent)
                .copied()
                .collect();
            let fields = self.item_fields(head, &below)?;
            let name = fields.iter().find(|f| f.key.as_deref() == Some("name"));
            let Some(name) = name else { continue };
            if self.read(name)?.as_deref() != Some(image) {
                continue;
            }
            if let Some((other, ..)) = &found {
                return Err(EditError::Ambiguous {
                    file: self.file.clone(),
                    path: self.path.clone(),
                    first: other.line + 1,
                    second: head.line + 1,
                });
            }
            found = Some((head, fields, below));
        }
        let Some((head, fields, below)) = found else {
            return Err(self.missing_image(images.line));
        };
        if let Some(e) = self.find_field(&fields, "digest")? {
            return Ok(Spot::Value(e.clone()));
        }
        // After the entry's last line: its last field, or what is nested in it.
        let last = below.last().copied().unwrap_or(head);
        if last.continued || !last.value.closed {
            return Err(self.unsupported(
                last.line,
                "the entry's last line continues over several lines; add digest: by hand once",
            ));
        }
        let after = last.line;
        let col = fields.first().map_or(head.col, |f| f.col);
        Ok(Spot::Absent { after, col })
    }

    /// An `images:` entry's fields: the one on the dash's line and those at
    /// its column below it.
    pub(super) fn item_fields<'s>(
        &'s self,
        head: &'s Entry,
        below: &[&'s Entry],
    ) -> Result<Vec<&'s Entry>, EditError> {
        if head.key.is_none() {
            if head.value.kind != Kind::Empty {
                let shape = match head.value.kind {
                    Kind::Flow => Shape::FlowCollection,
                    Kind::Anchor => Shape::Anchor,
                    Kind::Alias => Shape::Alias,
                    _ => Shape::Unreadable,
                };
                return Err(self.unsupported(head.line, format!("an images entry that is {shape}")));
            }
            return self.mapping(below);
        }
        if head.key_junk {
            return Err(self.unsupported(head.line, "a key this reader cannot read"));
        }
        let mut fields = vec![head];
        for e in below {
            if e.indent < head.col {
                return Err(self.unsupported(
                    e.line,
                    "a line indented between an entry's dash and its fields",
                ));
            }
            if e.indent > head.col {
                continue;
            }
            if e.dash || e.key_junk || e.key.is_none() {
                return Err(self.unsupported(e.line, "a key this reader cannot read"));
            }
            fields.push(e);
        }
        Ok(fields)
    }

    pub(super) fn find_field<'s>(
        &self,
        fields: &[&'s Entry],
        key: &str,
    ) -> Result<Option<&'s Entry>, EditError> {
        let mut found = fields.iter().filter(|f| f.key.as_deref() == Some(key));
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(EditError::Ambiguous {
                file: self.file.clone(),
                path: self.path.clone(),
                first: a.line + 1,
                second: b.line + 1,
            }),
            (a, _) => {
                if a.is_none()
                    && let Some(m) = fields.iter().find(|e| e.key.as_deref() == Some("<<"))
                {
                    return Err(
                        self.unsupported(m.line, format!("a merge key (<<) that may hold {key}"))
                    );
                }
                Ok(a.copied())
            }
        }
    }

    pub(super) fn missing_image(&self, line: usize) -> EditError {
        let image = match self.setting {
            ImageSetting::Kustomize { image, .. } => image.as_str(),
            ImageSetting::Helm { .. } => "",
        };
        EditError::Missing {
            file: self.file.clone(),
            path: self.path.clone(),
            missing: format!("images: entry named {image}"),
            line: Some(line + 1),
        }
    }
}
