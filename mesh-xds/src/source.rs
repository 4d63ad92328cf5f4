//! Config sources: where a control plane's objects come from. [`DirectorySource`] reads a
//! directory of YAML (and JSON) files and watches it: adds, edits, deletes and renames. A file
//! that does not load or validate is reported and keeps its last good objects; nothing of it
//! replaces what was there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_core::api::Object;
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::model::{ChangeSet, MeshOptions, ObjectKey, Snapshot, Store};

/// A problem with one file, kept until the file is fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, as the loader and validator say it (with positions).
    pub message: String,
}

/// A directory of manifests, read into snapshots.
#[derive(Debug)]
pub struct DirectorySource {
    root: PathBuf,
    /// The last good objects of each file, and the text they came from.
    files: BTreeMap<PathBuf, (String, Vec<Object>)>,
    errors: BTreeMap<PathBuf, FileError>,
    /// Every good object, kept in step with `files` to report what each reload changed.
    store: Store,
    last_changes: ChangeSet,
}

fn is_manifest(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if is_manifest(&p) {
            out.push(p);
        }
    }
}

/// Loads and validates one file's text: its objects, or everything wrong with it.
fn check(text: &str, name: &str) -> Result<Vec<Object>, String> {
    let out = Loader::new(LoadOptions::strict()).load_str(text, name);
    let mut problems: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
    for l in &out.objects {
        let report = mesh_core::validate::validate(&l.object);
        let meta = l.object.metadata();
        problems.extend(report.errors.iter().map(|i| {
            format!(
                "{name}: {} {}/{}: {}: {}",
                l.object.kind_name(),
                meta.namespace,
                meta.name,
                i.path,
                i.message
            )
        }));
    }
    if problems.is_empty() {
        Ok(out.objects.into_iter().map(|l| l.object).collect())
    } else {
        Err(problems.join("\n"))
    }
}

impl DirectorySource {
    /// A source over `root` (nothing read yet).
    pub fn new(root: impl Into<PathBuf>, options: MeshOptions) -> DirectorySource {
        let store = Store::new(options.clone());
        DirectorySource {
            root: root.into(),
            files: BTreeMap::new(),
            errors: BTreeMap::new(),
            store,
            last_changes: ChangeSet::default(),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Re-reads the directory. Returns whether the objects changed. Files that fail keep
    /// their last good objects (a file never seen good contributes nothing) and are listed in
    /// [`Self::errors`]; deleted files drop their objects.
    pub fn reload(&mut self) -> bool {
        let mut paths = Vec::new();
        walk(&self.root, &mut paths);
        paths.sort();
        let mut changed = false;
        let present: std::collections::BTreeSet<PathBuf> = paths.iter().cloned().collect();
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !present.contains(*p))
            .cloned()
            .collect();
        for p in gone {
            self.files.remove(&p);
            changed = true;
        }
        self.errors.retain(|p, _| present.contains(p));
        for p in paths {
            let Ok(bytes) = std::fs::read(&p) else {
                continue; // vanished between listing and reading: the next event rereads
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if self.files.get(&p).is_some_and(|(t, _)| *t == text) {
                self.errors.remove(&p);
                continue;
            }
            match check(&text, &p.display().to_string()) {
                Ok(objects) => {
                    self.files.insert(p.clone(), (text, objects));
                    self.errors.remove(&p);
                    changed = true;
                }
                Err(message) => {
                    tracing::warn!(file = %p.display(), %message, "invalid file kept its last good objects");
                    self.errors
                        .insert(p.clone(), FileError { path: p, message });
                }
            }
        }
        if changed {
            self.sync_store();
        } else {
            self.last_changes = ChangeSet::default();
        }
        changed
    }

    /// Files that currently fail, with why.
    pub fn errors(&self) -> Vec<FileError> {
        self.errors.values().cloned().collect()
    }

    /// A snapshot of every good object.
    pub fn snapshot(&self) -> Snapshot {
        self.store.snapshot()
    }

    /// What the last [`Self::reload`] changed (objects added, updated, deleted).
    pub fn last_changes(&self) -> &ChangeSet {
        &self.last_changes
    }

    /// Brings the store in step with the files, recording the changes.
    fn sync_store(&mut self) {
        let mut wanted: BTreeMap<ObjectKey, Object> = BTreeMap::new();
        for (_, objects) in self.files.values() {
            for o in objects {
                wanted.insert(ObjectKey::of(o), o.clone());
            }
        }
        let mut changes = ChangeSet::default();
        let gone: Vec<ObjectKey> = self
            .store
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            changes.merge(self.store.delete(&k));
        }
        changes.merge(self.store.apply_all(wanted.into_values()));
        self.last_changes = changes;
    }

    /// Watches the directory and calls `on_change` with a new snapshot after changes settle:
    /// `quiet` without further events (istiod's 100 ms), at most `max_delay` after the first
    /// (10 s). Call within a tokio runtime; watching stops when the returned watcher is
    /// dropped.
    pub fn watch(
        mut self,
        quiet: Duration,
        max_delay: Duration,
        mut on_change: impl FnMut(&DirectorySource) + Send + 'static,
    ) -> Result<notify::RecommendedWatcher, notify::Error> {
        use notify::Watcher;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if e.is_ok() {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&self.root, notify::RecursiveMode::Recursive)?;
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                let first = tokio::time::Instant::now();
                // Debounce: wait for a quiet period, but never longer than max_delay.
                loop {
                    let deadline = (first + max_delay).min(tokio::time::Instant::now() + quiet);
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(())) if tokio::time::Instant::now() < first + max_delay => continue,
                        Ok(None) => return,
                        _ => break,
                    }
                }
                let errors_before = self.errors();
                if self.reload() || errors_before != self.errors() {
                    on_change(&self);
                }
            }
        });
        Ok(watcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a, namespace: x}\nspec: {hosts: [a], http: [{route: [{destination: {host: a}}]}]}\n";

    #[test]
    fn invalid_edits_keep_the_last_good_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("vs.yaml");
        std::fs::write(&f, VS).expect("write");
        let mut src = DirectorySource::new(dir.path(), MeshOptions::default());
        assert!(src.reload());
        assert_eq!(src.snapshot().len(), 1);
        assert!(!src.reload(), "nothing changed");
        // A syntax error: reported with the file, the object stays.
        std::fs::write(&f, "apiVersion: [").expect("write");
        assert!(!src.reload());
        assert_eq!(src.snapshot().len(), 1);
        assert_eq!(src.errors().len(), 1);
        assert!(src.errors()[0].path.ends_with("vs.yaml"));
        // A validation error (timeout below 1ms) is refused the same way.
        std::fs::write(
            &f,
            VS.replace("http: [{route", "http: [{timeout: 0.0001s, route"),
        )
        .expect("write");
        assert!(!src.reload());
        assert!(
            src.errors()[0].message.contains("timeout"),
            "{}",
            src.errors()[0].message
        );
        // Fixed: accepted, error cleared; the change set says what changed.
        std::fs::write(&f, VS.replace("name: a,", "name: b,")).expect("write");
        assert!(src.reload());
        assert!(src.errors().is_empty());
        let kinds: Vec<(String, mesh_core::model::ChangeKind)> = src
            .last_changes()
            .objects
            .iter()
            .map(|(k, c)| (k.name.clone(), *c))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a".to_string(), mesh_core::model::ChangeKind::Deleted),
                ("b".to_string(), mesh_core::model::ChangeKind::Added)
            ]
        );
        // Renamed and deleted files.
        std::fs::rename(&f, dir.path().join("renamed.yml")).expect("rename");
        assert!(src.reload());
        assert_eq!(src.snapshot().len(), 1);
        std::fs::remove_file(dir.path().join("renamed.yml")).expect("rm");
        assert!(src.reload());
        assert!(src.snapshot().is_empty());
    }
}
