//! What a key can mean: the contexts bindings apply in, the actions, and
//! every action's name, description and default keys.

/// Where a binding applies. The dialogs are *modal*: there, only their own
/// bindings apply (and help), so they may reuse keys the board uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere outside text input and popups.
    Global,
    /// The board has focus.
    Board,
    /// The timeline has focus.
    Timeline,
    /// The promotion wizard.
    Wizard,
    /// Typing into a wizard field.
    Editing,
    /// A confirmation dialog (deploy or rollback).
    Confirm,
    /// The deploy watch.
    Watch,
    /// An aborted deploy whose policy asks: roll back now?
    Decide,
    /// Confirming an abort by hand.
    ConfirmAbort,
    /// The interrupted-actions dialog.
    Interrupted,
}

impl Context {
    /// Whether only this context's own bindings apply here.
    pub fn is_modal(self) -> bool {
        !matches!(self, Self::Global | Self::Board | Self::Timeline)
    }

    /// Whether printable keys are text here (bindings then only take other keys).
    pub fn is_typing(self) -> bool {
        matches!(self, Self::Editing | Self::Confirm)
    }
}

/// Everything a user can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave shipdeck.
    Quit,
    /// Show the keys of the current context.
    Help,
    /// Move up.
    Up,
    /// Move down.
    Down,
    /// Move left.
    Left,
    /// Move right.
    Right,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Open the detail pane for the selected cell.
    OpenDetail,
    /// Close the detail pane or popup.
    Close,
    /// Filter services by name.
    Filter,
    /// Show only the rows with a problem (toggle).
    Problems,
    /// Pick the environment scope.
    EnvScope,
    /// Cycle the timeline scope (service, environment, all).
    TimelineScope,
    /// Read every environment now.
    Refresh,
    /// Jump to the first row / oldest entry.
    Top,
    /// Jump to the last row / follow the tail.
    Bottom,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Promote the previous stage's digest into the selected cell.
    Promote,
    /// Roll the selected cell back to its previous stable revision.
    Rollback,
    /// Run the selected environment's smoke checks.
    Smoke,
    /// Show the promotions waiting for approval.
    Approvals,
    /// Show the last messages in full.
    Messages,
    /// Show the deploy or rollback being watched.
    ShowWatch,
    /// Follow the selected service's logs.
    Logs,
    /// Watch: follow the logs of the service being rolled out.
    WatchLogs,
    /// Wizard: focus the row above.
    WizardUp,
    /// Wizard: focus the row below.
    WizardDown,
    /// Wizard: tick the focused checklist item (or edit the focused field).
    Tick,
    /// Wizard: edit the focused field (or tick the focused item).
    Edit,
    /// Wizard: open the confirmation when the gate says GO.
    Go,
    /// Wizard: take the source from an earlier stage (the hotfix path).
    Hotfix,
    /// Wizard: the next change type (the approval matrix's row).
    ChangeType,
    /// Wizard: run the source's smoke checks.
    WizardSmoke,
    /// Wizard: back out (closes the promotion in the ledger).
    Back,
    /// Editing: keep the text.
    Keep,
    /// Editing: undo the edit.
    Undo,
    /// Confirmation: do it.
    Accept,
    /// Confirmation: go back.
    Cancel,
    /// Watch: abort the deploy (asks first; rolls back).
    AbortDeploy,
    /// Watch: continue a step paused for a decision.
    ContinueStep,
    /// Watch: hide the watch (it goes on).
    Hide,
    /// Watch: close a finished watch.
    Dismiss,
    /// Aborted, asked: roll back now.
    RollBackNow,
    /// Aborted, asked: leave it as it is.
    LeaveIt,
    /// Abort by hand: yes.
    AbortYes,
    /// Abort by hand: no, keep watching.
    AbortNo,
    /// Interrupted: watch it again.
    Resume,
    /// Interrupted: open the rollback dialog.
    RollBackInterrupted,
    /// Interrupted: dismiss this one.
    Skip,
}

/// Action metadata: config name, context, description, default keys.
pub struct ActionInfo {
    /// The action.
    pub action: Action,
    /// Name in the `[keys]` table.
    pub name: &'static str,
    /// Where it applies.
    pub context: Context,
    /// One-line description for the help overlay.
    pub description: &'static str,
    /// Default keys.
    pub defaults: &'static [&'static str],
}

/// Every action, in help order.
pub const ACTIONS: &[ActionInfo] = &[
    ActionInfo {
        action: Action::Up,
        name: "up",
        context: Context::Global,
        description: "move up",
        defaults: &["up", "k"],
    },
    ActionInfo {
        action: Action::Down,
        name: "down",
        context: Context::Global,
        description: "move down",
        defaults: &["down", "j"],
    },
    ActionInfo {
        action: Action::Left,
        name: "left",
        context: Context::Board,
        description: "previous environment",
        defaults: &["left", "h"],
    },
    ActionInfo {
        action: Action::Right,
        name: "right",
        context: Context::Board,
        description: "next environment",
        defaults: &["right", "l"],
    },
    ActionInfo {
        action: Action::Top,
        name: "top",
        context: Context::Global,
        description: "first row / oldest entry",
        defaults: &["home", "g"],
    },
    ActionInfo {
        action: Action::Bottom,
        name: "bottom",
        context: Context::Global,
        description: "last row / follow the newest entry",
        defaults: &["end", "G"],
    },
    ActionInfo {
        action: Action::PageUp,
        name: "page_up",
        context: Context::Global,
        description: "page up",
        defaults: &["pgup", "ctrl-u"],
    },
    ActionInfo {
        action: Action::PageDown,
        name: "page_down",
        context: Context::Global,
        description: "page down",
        defaults: &["pgdn", "ctrl-d"],
    },
    ActionInfo {
        action: Action::NextPane,
        name: "next_pane",
        context: Context::Global,
        description: "focus next pane",
        defaults: &["tab"],
    },
    ActionInfo {
        action: Action::PrevPane,
        name: "prev_pane",
        context: Context::Global,
        description: "focus previous pane",
        defaults: &["shift-tab"],
    },
    ActionInfo {
        action: Action::OpenDetail,
        name: "detail",
        context: Context::Board,
        description: "open the detail pane for the cell",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::Close,
        name: "close",
        context: Context::Global,
        description: "close detail pane / popup",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Filter,
        name: "filter",
        context: Context::Global,
        description: "filter services by name",
        defaults: &["/"],
    },
    ActionInfo {
        action: Action::Problems,
        name: "problems",
        context: Context::Global,
        description: "show only the rows with a problem (toggle)",
        defaults: &["!"],
    },
    ActionInfo {
        action: Action::EnvScope,
        name: "env_scope",
        context: Context::Global,
        description: "pick environment scope",
        defaults: &["e"],
    },
    ActionInfo {
        action: Action::TimelineScope,
        name: "timeline_scope",
        context: Context::Global,
        description: "timeline: service / environment / all",
        defaults: &["t"],
    },
    ActionInfo {
        action: Action::Refresh,
        name: "refresh",
        context: Context::Global,
        description: "read every environment now",
        defaults: &["R"],
    },
    ActionInfo {
        action: Action::Promote,
        name: "promote",
        context: Context::Board,
        description: "promote the previous stage's digest into this cell (wizard)",
        defaults: &["p"],
    },
    ActionInfo {
        action: Action::Rollback,
        name: "rollback",
        context: Context::Board,
        description: "roll back to the previous stable revision",
        defaults: &["r"],
    },
    ActionInfo {
        action: Action::Smoke,
        name: "smoke",
        context: Context::Board,
        description: "run the environment's smoke checks",
        defaults: &["s"],
    },
    ActionInfo {
        action: Action::Logs,
        name: "logs",
        context: Context::Global,
        description: "follow the service's logs (esc closes)",
        defaults: &["L"],
    },
    ActionInfo {
        action: Action::ShowWatch,
        name: "watch",
        context: Context::Global,
        description: "show the deploy or rollback being watched",
        defaults: &["w"],
    },
    ActionInfo {
        action: Action::WizardUp,
        name: "wizard_up",
        context: Context::Wizard,
        description: "focus the row above",
        defaults: &["k", "up"],
    },
    ActionInfo {
        action: Action::WizardDown,
        name: "wizard_down",
        context: Context::Wizard,
        description: "focus the row below",
        defaults: &["j", "down", "tab"],
    },
    ActionInfo {
        action: Action::Tick,
        name: "tick",
        context: Context::Wizard,
        description: "tick the focused item",
        defaults: &["space", "x"],
    },
    ActionInfo {
        action: Action::Edit,
        name: "edit",
        context: Context::Wizard,
        description: "edit the focused field",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::Go,
        name: "go",
        context: Context::Wizard,
        description: "deploy… (opens the confirmation when the gate is GO)",
        defaults: &["g"],
    },
    ActionInfo {
        action: Action::Hotfix,
        name: "hotfix",
        context: Context::Wizard,
        description: "change source (hotfix)",
        defaults: &["h"],
    },
    ActionInfo {
        action: Action::ChangeType,
        name: "change_type",
        context: Context::Wizard,
        description: "next change type",
        defaults: &["c"],
    },
    ActionInfo {
        action: Action::WizardSmoke,
        name: "wizard_smoke",
        context: Context::Wizard,
        description: "run the source's smoke checks",
        defaults: &["s"],
    },
    ActionInfo {
        action: Action::Back,
        name: "back",
        context: Context::Wizard,
        description: "back out (closes the promotion)",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Keep,
        name: "keep",
        context: Context::Editing,
        description: "keep the text",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::Undo,
        name: "undo",
        context: Context::Editing,
        description: "undo the edit",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Accept,
        name: "accept",
        context: Context::Confirm,
        description: "do it",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::Cancel,
        name: "cancel",
        context: Context::Confirm,
        description: "go back",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::AbortDeploy,
        name: "abort",
        context: Context::Watch,
        description: "abort (rolls back)",
        defaults: &["a"],
    },
    ActionInfo {
        action: Action::ContinueStep,
        name: "continue_step",
        context: Context::Watch,
        description: "continue a paused step (four eyes where the policy asks)",
        defaults: &["c"],
    },
    ActionInfo {
        action: Action::WatchLogs,
        name: "watch_logs",
        context: Context::Watch,
        description: "follow the logs of what is being rolled out",
        defaults: &["L"],
    },
    ActionInfo {
        action: Action::Hide,
        name: "hide",
        context: Context::Watch,
        description: "hide (w shows it again)",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Dismiss,
        name: "dismiss",
        context: Context::Watch,
        description: "close a finished watch",
        defaults: &["enter"],
    },
    ActionInfo {
        action: Action::RollBackNow,
        name: "roll_back_now",
        context: Context::Decide,
        description: "roll back now",
        defaults: &["y"],
    },
    ActionInfo {
        action: Action::LeaveIt,
        name: "leave_it",
        context: Context::Decide,
        description: "leave it as it is",
        defaults: &["n"],
    },
    ActionInfo {
        action: Action::AbortYes,
        name: "abort_yes",
        context: Context::ConfirmAbort,
        description: "yes, abort and roll back",
        defaults: &["enter", "y"],
    },
    ActionInfo {
        action: Action::AbortNo,
        name: "abort_no",
        context: Context::ConfirmAbort,
        description: "no, keep watching",
        defaults: &["esc", "n"],
    },
    ActionInfo {
        action: Action::Resume,
        name: "resume",
        context: Context::Interrupted,
        description: "resume watching",
        defaults: &["w"],
    },
    ActionInfo {
        action: Action::RollBackInterrupted,
        name: "roll_back_interrupted",
        context: Context::Interrupted,
        description: "roll back (opens the dialog)",
        defaults: &["r"],
    },
    ActionInfo {
        action: Action::Skip,
        name: "skip",
        context: Context::Interrupted,
        description: "dismiss",
        defaults: &["esc"],
    },
    ActionInfo {
        action: Action::Approvals,
        name: "approvals",
        context: Context::Global,
        description: "promotions waiting for approval",
        defaults: &["A"],
    },
    ActionInfo {
        action: Action::Messages,
        name: "messages",
        context: Context::Global,
        description: "the last messages in full",
        defaults: &["m"],
    },
    ActionInfo {
        action: Action::Help,
        name: "help",
        context: Context::Global,
        description: "this help",
        defaults: &["?"],
    },
    ActionInfo {
        action: Action::Quit,
        name: "quit",
        context: Context::Global,
        description: "quit (ctrl-c always quits)",
        defaults: &["q"],
    },
];
