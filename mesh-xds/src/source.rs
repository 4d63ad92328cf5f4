//! Config sources: where a control plane's objects come from. [`ConfigSource`] is the
//! interface a control plane is written against (as `pilot`'s config controllers are):
//! a first update with everything, then one per settled change, each a snapshot, the change
//! set since the previous one and the inputs that currently fail. [`DirectorySource`] reads a
//! directory of YAML (and JSON) files and watches it: adds, edits, deletes and renames. A file
//! that does not load or validate is reported and keeps its last good objects; nothing of it
//! replaces what was there. (`mesh-k8s` implements the same trait over the Kubernetes API.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_core::api::Object;
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::model::{ChangeSet, MeshOptions, ObjectKey, Snapshot, Store};

/// A problem with one input, kept until it is fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The input: a file, or for API sources a path naming the object
    /// (`kubernetes/<namespace>/<kind>/<name>`).
    pub path: PathBuf,
    /// What is wrong, as the loader and validator say it (with positions).
    pub message: String,
}

/// How changes are debounced before an update: an update comes `quiet` after the last event
/// of a burst, and at most `max_delay` after its first (istiod's `PILOT_DEBOUNCE_AFTER` and
/// `PILOT_DEBOUNCE_MAX`: 100 ms and 10 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debounce {
    /// Quiet period.
    pub quiet: Duration,
    /// Longest delay after the first event.
    pub max_delay: Duration,
}

impl Default for Debounce {
    fn default() -> Debounce {
        Debounce {
            quiet: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What a source reports: everything good now, what changed, what fails.
#[derive(Clone, Debug)]
pub struct SourceUpdate {
    /// Every good object.
    pub snapshot: Snapshot,
    /// The change since the previous update (for the first: everything, as added); empty when
    /// only the failing inputs changed.
    pub changes: ChangeSet,
    /// Inputs that currently fail, with why; none of them replaced its last good objects.
    pub errors: Vec<FileError>,
}

/// Where a control plane's configuration comes from.
///
/// ```no_run
/// use mesh_core::model::MeshOptions;
/// use mesh_xds::source::{ConfigSource, Debounce, DirectorySource, SourceUpdate};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let source = DirectorySource::new("config/", MeshOptions::default());
/// let (first, _running) = source.start(
///     Debounce::default(),
///     Box::new(|u: SourceUpdate| println!("{} objects, {} failing", u.snapshot.len(), u.errors.len())),
/// )?;
/// println!("{} objects to start with", first.snapshot.len());
/// # Ok(()) }
/// ```
pub trait ConfigSource: Send + 'static {
    /// Keeps the source running; dropping it stops the updates.
    type Running: Send;

    /// Reads everything once (the first update, returned), then calls `on_update` after each
    /// settled change (debounced by `debounce`). Call within a tokio runtime.
    fn start(
        self,
        debounce: Debounce,
        on_update: Box<dyn FnMut(SourceUpdate) + Send>,
    ) -> Result<(SourceUpdate, Self::Running), String>;
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

impl DirectorySource {
    fn update(&self) -> SourceUpdate {
        SourceUpdate {
            snapshot: self.snapshot(),
            changes: self.last_changes.clone(),
            errors: self.errors(),
        }
    }
}

impl ConfigSource for DirectorySource {
    type Running = notify::RecommendedWatcher;

    fn start(
        mut self,
        debounce: Debounce,
        mut on_update: Box<dyn FnMut(SourceUpdate) + Send>,
    ) -> Result<(SourceUpdate, notify::RecommendedWatcher), String> {
        self.reload();
        let first = self.update();
        let root = self.root.clone();
        let watcher = self
            .watch(debounce.quiet, debounce.max_delay, move |src| {
                on_update(src.update());
            })
            .map_err(|e| format!("watching {}: {e}", root.display()))?;
        Ok((first, watcher))
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

    /// Through the trait: the first update, then one per settled change.
    #[tokio::test]
    async fn updates_through_the_config_source_trait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("vs.yaml");
        std::fs::write(&f, VS).expect("write");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let source = DirectorySource::new(dir.path(), MeshOptions::default());
        let debounce = Debounce {
            quiet: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        };
        let (first, _running) = source
            .start(
                debounce,
                Box::new(move |u| {
                    let _ = tx.send(u);
                }),
            )
            .expect("starts");
        assert_eq!(first.snapshot.len(), 1);
        assert_eq!(first.changes.objects.len(), 1, "everything, as added");
        assert!(first.errors.is_empty());

        async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<SourceUpdate>) -> SourceUpdate {
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("an update")
                .expect("open")
        }
        std::fs::write(
            dir.path().join("b.yaml"),
            VS.replace("name: a,", "name: b,"),
        )
        .expect("write");
        let added = next(&mut rx).await;
        assert_eq!(added.snapshot.len(), 2);
        assert_eq!(added.changes.objects.len(), 1);
        // A bad edit: reported, nothing changed.
        std::fs::write(&f, "apiVersion: [").expect("write");
        let bad = next(&mut rx).await;
        assert!(bad.changes.is_empty());
        assert_eq!(bad.snapshot.len(), 2);
        assert_eq!(bad.errors.len(), 1);
    }
}
