//! The explorer's words in English and French, and numbers and dates written the way each language
//! writes them. Every text is a variant of [`T`], so a missing translation does not compile.

pub use ledger::words::Language;

macro_rules! texts {
    ($($name:ident => $en:literal, $fr:literal;)*) => {
        /// A text of the interface.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum T { $($name),* }

        impl T {
            pub const ALL: &'static [T] = &[$(T::$name),*];

            pub fn get(self, language: Language) -> &'static str {
                match (self, language) {
                    $((T::$name, Language::English) => $en, (T::$name, Language::French) => $fr,)*
                }
            }
        }
    };
}

texts! {
    AppName => "aidtrail explorer", "explorateur aidtrail";
    SkipToContent => "Skip to content", "Aller au contenu";
    NavOverview => "Overview", "Vue d'ensemble";
    NavEntries => "Entries", "Écritures";
    NavOrganisations => "Organisations", "Organisations";
    NavTrace => "Trace a donation", "Suivre un don";
    NavCharts => "Charts", "Graphiques";
    NavFlags => "Flags", "Signalements";
    NavAudit => "Audit", "Audit";
    NavProofs => "What a proof means", "Ce que prouve une preuve";
    NavTrust => "Trust anchor", "Ancre de confiance";
    SwitchLanguage => "Français", "English";
    SwitchLanguageLabel => "Lire en français", "Read in English";
    Loading => "Loading…", "Chargement…";
    LoadFailed => "Could not load", "Chargement impossible";
    NotFoundTitle => "Page not found", "Page introuvable";
    NotFoundText => "There is nothing at this address.", "Il n'y a rien à cette adresse.";
    // Trust anchor
    TrustPinnedByYou => "pinned by you", "épinglée par vous";
    TrustFromBuild => "set in this explorer's build", "fixée à la construction de cet explorateur";
    TrustMatches => "The server's checkpoints are checked against the verifier key", "Les points de contrôle du serveur sont vérifiés avec la clé";
    TrustMismatch => "ALARM: the server presents a different verifier key than the one you trust. Do not rely on this log's proofs; publish both keys.", "ALERTE : le serveur présente une autre clé de vérification que celle en laquelle vous avez confiance. Ne vous fiez pas aux preuves de ce journal ; publiez les deux clés.";
    TrustUnpinned => "No trust anchor is pinned. The server says its verifier key is the one below: pin it only if you obtained the same key independently (the organisation's website, an audit report).", "Aucune ancre de confiance n'est épinglée. Le serveur annonce la clé ci-dessous : épinglez-la seulement si vous avez obtenu la même clé par une autre source (site de l'organisation, rapport d'audit).";
    TrustServerKey => "Key presented by the server", "Clé présentée par le serveur";
    TrustTrustedKey => "Key you trust", "Clé de confiance";
    TrustPinThis => "Pin this key", "Épingler cette clé";
    TrustPinOther => "Pin another key", "Épingler une autre clé";
    TrustUnpin => "Forget the pinned key", "Oublier la clé épinglée";
    TrustKeyLabel => "Verifier key (name+id+base64)", "Clé de vérification (nom+id+base64)";
    TrustInvalidKey => "This is not a valid note verifier key", "Ce n'est pas une clé de vérification de note valide";
    TrustIntro => "Every proof this page checks ends in a checkpoint signed by the log. The key that signature is checked with must not come only from the server being checked: it is set when this explorer is built, or pinned by you here, and kept in this browser.", "Chaque preuve vérifiée ici aboutit à un point de contrôle signé par le journal. La clé qui vérifie cette signature ne doit pas venir uniquement du serveur vérifié : elle est fixée à la construction de l'explorateur, ou épinglée par vous ici, et conservée dans ce navigateur.";
    // Overview
    OverviewTitle => "A public, verifiable ledger of aid money", "Un registre public et vérifiable de l'argent de l'aide";
    Origin => "Log", "Journal";
    VerifierKey => "Verifier key", "Clé de vérification";
    TreeSize => "Entries", "Écritures";
    LatestCheckpoint => "Latest checkpoint", "Dernier point de contrôle";
    SignedAgo => "signed", "signé";
    TotalsByAsset => "Totals by asset", "Totaux par actif";
    Asset => "Asset", "Actif";
    Donated => "Donated", "Donné";
    Returned => "Returned", "Rendu";
    Spent => "Spent", "Dépensé";
    Reserved => "Reserved by pledges", "Réservé par promesses";
    Held => "Held", "Détenu";
    MainFlow => "Where the money went", "Où est allé l'argent";
    MainFlowAlt => "Flow chart: donors to NGOs to clinics to spending categories", "Diagramme de flux : donateurs, ONG, cliniques, catégories de dépense";
    DownloadSvg => "Download (SVG)", "Télécharger (SVG)";
    DownloadCsv => "Download these entries (CSV)", "Télécharger ces écritures (CSV)";
    DownloadOrganisationsCsv => "Download (CSV)", "Télécharger (CSV)";
    OpenData => "Open data", "Données ouvertes";
    IatiExport => "IATI 2.03 activities (XML)", "Activités IATI 2.03 (XML)";
    OpenDataText => "The whole ledger for other tools: IATI activities for aid-transparency portals, and every listing as CSV for spreadsheets.", "Tout le registre pour d'autres outils : les activités IATI pour les portails de transparence de l'aide, et chaque liste en CSV pour les tableurs.";
    AllEntriesCsv => "Entries (CSV)", "Écritures (CSV)";
    PledgesCsv => "Pledges (CSV)", "Promesses (CSV)";
    FlowsCsv => "Flows between organisations (CSV)", "Flux entre organisations (CSV)";
    RecentEntries => "Recent entries", "Écritures récentes";
    // Entries
    EntriesTitle => "Entries", "Écritures";
    Search => "Search", "Rechercher";
    SearchLabel => "Entry id, leaf hash, index or external reference", "Identifiant, empreinte de feuille, index ou référence externe";
    Organisation => "Organisation", "Organisation";
    Kind => "Kind", "Type";
    From => "From", "Du";
    To => "To", "Au";
    Any => "any", "tous";
    Filter => "Filter", "Filtrer";
    Index => "Index", "Index";
    Date => "Date", "Date";
    Author => "Author", "Auteur";
    Statement => "Statement", "Déclaration";
    Newer => "Newer", "Plus récentes";
    Older => "Older", "Plus anciennes";
    NoEntries => "No entry matches.", "Aucune écriture ne correspond.";
    NothingFound => "Nothing matches this search.", "Rien ne correspond à cette recherche.";
    // Entry
    EntryTitle => "Entry", "Écriture";
    EntryId => "Entry id", "Identifiant";
    LeafHash => "Leaf hash", "Empreinte de feuille";
    SignedAt => "Signed at", "Signée le";
    ValueDate => "Value date", "Date de valeur";
    Signer => "Signing key", "Clé de signature";
    Signature => "Signature", "Signature";
    RawBytes => "Raw bytes (the signed leaf)", "Octets bruts (la feuille signée)";
    JsonView => "Fields", "Champs";
    VerifyButton => "Verify in my browser", "Vérifier dans mon navigateur";
    Verifying => "Verifying…", "Vérification…";
    VerifiedTitle => "Verified in your browser", "Vérifié dans votre navigateur";
    VerifiedText => "This exact entry is in the log, signed by its author's key, under a checkpoint signed by the key you trust.", "Cette écriture exacte figure dans le journal, signée par la clé de son auteur, sous un point de contrôle signé par la clé de confiance.";
    VerifyFailedTitle => "VERIFICATION FAILED", "ÉCHEC DE LA VÉRIFICATION";
    VerifyFailedText => "What the server sent does not prove this entry. Keep this page and report it.", "Ce que le serveur a envoyé ne prouve pas cette écriture. Conservez cette page et signalez-le.";
    StepLeafHash => "Leaf hash recomputed from the bytes", "Empreinte recalculée à partir des octets";
    StepAuthorSignature => "Author's signature", "Signature de l'auteur";
    StepCheckpointSignature => "Checkpoint signed by the trusted key", "Point de contrôle signé par la clé de confiance";
    StepInclusionPath => "Path from the entry to the signed root", "Chemin de l'écriture à la racine signée";
    NotRun => "not run (an earlier check failed)", "non effectué (une vérification précédente a échoué)";
    NoTrustAnchor => "Pin a trust anchor first: without it the checkpoint's signature cannot be checked.", "Épinglez d'abord une ancre de confiance : sans elle, la signature du point de contrôle ne peut pas être vérifiée.";
    // Organisation
    OrganisationsTitle => "Organisations", "Organisations";
    Role => "Role", "Rôle";
    Country => "Country", "Pays";
    Name => "Name", "Nom";
    Balances => "Balances", "Soldes";
    Available => "Available", "Disponible";
    Earmarked => "of which earmarked", "dont affecté";
    Pledged => "Pledged", "Promis";
    MoneyOverTime => "Money in and out over time", "Entrées et sorties d'argent dans le temps";
    SpendingByCategory => "Spending by category", "Dépenses par catégorie";
    Pledges => "Pledges", "Promesses";
    Status => "Status", "Statut";
    Amount => "Amount", "Montant";
    Result => "Result to attest", "Résultat à attester";
    NoPledges => "No pledges.", "Aucune promesse.";
    OpenTransfers => "Transfers sent but never acknowledged", "Transferts envoyés jamais confirmés";
    NoOpenTransfers => "Every transfer was acknowledged.", "Tous les transferts ont été confirmés.";
    SignOffs => "Accounts signed off by auditors", "Comptes certifiés par des auditeurs";
    NoSignOffs => "No auditor has signed off these accounts yet.", "Aucun auditeur n'a encore certifié ces comptes.";
    SignedOffBy => "signed off by", "certifiés par";
    LogSizeRead => "log read up to entry", "journal lu jusqu'à l'écriture";
    VoucherProgrammes => "Health vouchers", "Bons de santé";
    VouchersIssued => "issued", "émis";
    VouchersRedeemed => "redeemed", "honorés";
    VouchersSettled => "settled", "payés";
    VouchersExpired => "expired", "expirés";
    VouchersReserved => "still reserved", "encore réservé";
    Converted => "Converted into other assets", "Converti en d'autres actifs";
    InOtherAsset => "After conversion, in", "Après conversion, en";
    Overheads => "Administration and bank fees", "Administration et frais bancaires";
    OfTheGift => "of the gift", "du don";
    ItsEntries => "Its entries", "Ses écritures";
    Key => "Current key", "Clé actuelle";
    // Trace
    TraceTitle => "Trace a donation", "Suivre un don";
    TraceIntro => "Enter a donation's entry id, or the secret code printed on your donation receipt: your browser turns the code into your anonymous donor reference and only the reference is sent.", "Saisissez l'identifiant d'un don, ou le code secret imprimé sur votre reçu de don : votre navigateur en déduit votre référence de donateur anonyme, et seule la référence est envoyée.";
    TraceInputLabel => "Donation id (32 hexadecimal digits) or receipt code (64)", "Identifiant du don (32 chiffres hexadécimaux) ou code du reçu (64)";
    CodeKindLegend => "A 64-digit code is", "Un code de 64 chiffres est";
    CodeIsReceipt => "the secret code of my receipt (stays in this browser)", "le code secret de mon reçu (reste dans ce navigateur)";
    CodeIsReference => "a donor reference shown in the ledger", "une référence de donateur affichée dans le registre";
    TraceButton => "Trace", "Suivre";
    TraceBadInput => "Enter 32 or 64 hexadecimal digits.", "Saisissez 32 ou 64 chiffres hexadécimaux.";
    DonationsOfReference => "Donations under this reference", "Dons sous cette référence";
    ForwardTitle => "Where this donation went", "Où est allé ce don";
    BackwardTitle => "Which donations paid for this spend", "Quels dons ont financé cette dépense";
    Donor => "Donor", "Donateur";
    Receiver => "Received by", "Reçu par";
    Hops => "Hop by hop", "Étape par étape";
    Holders => "Where the rest is now", "Où se trouve le reste";
    ByCategory => "Spent by category", "Dépensé par catégorie";
    Proof => "Proof", "Preuve";
    ProofOk => "proven", "prouvé";
    ProofFailed => "proof failed", "preuve invalide";
    ProofPending => "checking", "vérification";
    ProofUnchecked => "not checked: no trust anchor", "non vérifié : aucune ancre de confiance";
    Sources => "Funded by", "Financé par";
    Reversed => "reversed", "contrepassée";
    BackTrace => "Trace this spend back", "Remonter cette dépense";
    ForwardTrace => "Follow this donation", "Suivre ce don";
    // Charts
    ChartsTitle => "Charts", "Graphiques";
    // Last-mile spending and erasure
    LastMileTitle => "Last-mile spending", "Dépenses au dernier kilomètre";
    LastMileLink => "money paid to beneficiaries, by clinic and month or week, small groups withheld", "l'argent versé aux bénéficiaires, par clinique et par mois ou semaine, petits groupes masqués";
    LastMileIntro => "Money paid to beneficiaries, summed per clinic and period. Each payment names its beneficiary only by a fresh commitment that nobody but the clinic can open.", "L'argent versé aux bénéficiaires, additionné par clinique et par période. Chaque paiement ne désigne son bénéficiaire que par un engagement neuf que seule la clinique peut ouvrir.";
    LastMilePeriod => "Period", "Période";
    LastMileMonth => "Month", "Mois";
    LastMileWeek => "Week", "Semaine";
    LastMileOrganisation => "Clinic or NGO", "Clinique ou ONG";
    LastMileSpends => "Beneficiary payments", "Paiements à des bénéficiaires";
    LastMileTotal => "Total", "Total";
    LastMileSuppressed => "withheld: too few beneficiaries", "masqué : trop peu de bénéficiaires";
    LastMileSuppressionNote => "Groups of fewer than {k} beneficiary payments are withheld, so that no small group of patients can be singled out.", "Les groupes de moins de {k} paiements à des bénéficiaires sont masqués, pour qu'aucun petit groupe de patients ne puisse être isolé.";
    BeneficiaryDataErased => "Beneficiary data erased", "Données de bénéficiaires effacées";
    ErasureExplained => "When a person asks to be forgotten, the clinic destroys the salts and pseudonyms that opened their payments' commitments and records a signed erasure in the log. The payments stay, so the accounts still add up, but their commitments now identify nobody. The erasure does not say which payments it covers: that would link them to one person.", "Quand une personne demande l'effacement, la clinique détruit les sels et pseudonymes qui ouvraient les engagements de ses paiements et inscrit un effacement signé au journal. Les paiements restent, les comptes tombent donc toujours juste, mais leurs engagements n'identifient plus personne. L'effacement ne dit pas quels paiements il couvre : ce serait les relier à une même personne.";
    NoErasures => "No beneficiary data has been erased.", "Aucune donnée de bénéficiaire n'a été effacée.";
    ErasedCommitments => "beneficiary commitments: beneficiary data erased", "engagements de bénéficiaires : données de bénéficiaire effacées";
    SpendingByClinic => "Spending by clinic", "Dépenses par clinique";
    // Audit
    AuditTitle => "Audit: has the log been rewritten?", "Audit : le journal a-t-il été réécrit ?";
    AuditIntro => "This browser remembers every checkpoint it has verified. On each visit it asks the server for a consistency proof from the last one to the newest and checks it: a log may only grow.", "Ce navigateur garde chaque point de contrôle vérifié. À chaque visite, il demande au serveur une preuve de cohérence du dernier au plus récent et la vérifie : un journal ne peut que grandir.";
    AuditOk => "Consistent: the log only grew since your last visit.", "Cohérent : le journal n'a fait que grandir depuis votre dernière visite.";
    AuditFirst => "First visit: this checkpoint is now remembered; the next visit will check that the log only grew.", "Première visite : ce point de contrôle est mémorisé ; la prochaine visite vérifiera que le journal n'a fait que grandir.";
    AuditAlarm => "ALARM: the log was rewritten. The checkpoint you saw before and the one the server shows now cannot both be true. Publish both signed checkpoints below.", "ALERTE : le journal a été réécrit. Le point de contrôle vu auparavant et celui affiché maintenant ne peuvent pas être vrais tous les deux. Publiez les deux points de contrôle signés ci-dessous.";
    AuditBadSignature => "ALARM: the server's latest checkpoint is not signed by the key you trust.", "ALERTE : le dernier point de contrôle du serveur n'est pas signé par la clé de confiance.";
    AuditPending => "Checking the log's consistency…", "Vérification de la cohérence du journal…";
    AuditNoAnchor => "Pin a trust anchor to audit the log.", "Épinglez une ancre de confiance pour auditer le journal.";
    PreviousCheckpoint => "Checkpoint you saw before", "Point de contrôle vu auparavant";
    CurrentCheckpoint => "Checkpoint the server shows now", "Point de contrôle affiché maintenant";
    SeenCheckpoints => "Checkpoints this browser has verified", "Points de contrôle vérifiés par ce navigateur";
    SeenAt => "Seen at", "Vu le";
    Root => "Root", "Racine";
    ForgetHistory => "Forget this history", "Oublier cet historique";
    // Anomaly flags
    FlagsTitle => "Flags: patterns worth a look", "Signalements : des schémas à regarder de plus près";
    FlagsNotice => "A flag is information for a reader, not an accusation. It points at entries that match a documented pattern (money sent back, passed on at once, amounts just under a reporting threshold, a transfer left unacknowledged, a spend dated before its money, spending far above the usual level), which often has an ordinary explanation. Read the entries and judge.", "Un signalement est une information pour le lecteur, pas une accusation. Il désigne des écritures qui correspondent à un schéma documenté (argent renvoyé, transmis aussitôt, montants juste sous un seuil de déclaration, transfert jamais confirmé, dépense datée avant l'arrivée de son argent, dépenses bien au-dessus du niveau habituel), qui a souvent une explication ordinaire. Lisez les écritures et jugez.";
    FlagsAllRules => "All rules", "Toutes les règles";
    FlagsNone => "No flag.", "Aucun signalement.";
    FlagsCsv => "Download these flags (CSV)", "Télécharger ces signalements (CSV)";
    FlagsTriggeredBy => "Entries", "Écritures";
    FlagsRaisedBy => "raised by entry", "levé par l'écriture";
    ItsFlags => "Flags", "Signalements";
    RuleRoundTrip => "Money back where it came from", "Argent revenu à son point de départ";
    RulePassThrough => "Passed on without use", "Transmis sans être utilisé";
    RuleStructuring => "Amounts just under a reporting threshold", "Montants juste sous un seuil de déclaration";
    RuleUnacknowledgedTransfer => "Transfer unacknowledged after 14 days", "Transfert non confirmé après 14 jours";
    RuleSpendBeforeFunds => "Spend dated before its money", "Dépense datée avant son argent";
    RuleSpendingSpike => "Spending far above the usual level", "Dépenses bien au-dessus du niveau habituel";
    // Proofs
    ProofsTitle => "What a green check proves, and what it cannot", "Ce que prouve une coche verte, et ce qu'elle ne peut pas prouver";
}

/// A whole number with the language's thousands separator.
pub fn count(language: Language, value: u64) -> String {
    let (thousands, point) = language.number_marks();
    ledger::Amount(u128::from(value)).format(0, thousands, point)
}

/// The thousands separator and decimal point of a language.
pub fn money(language: Language, amount: u128, decimals: u8, asset: &str) -> String {
    language.money(amount, decimals, asset)
}

const MONTHS_EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_FR: [&str; 12] =
    ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];

/// A calendar date (`YYYY-MM-DD`) as the language writes it: `28 Nov 2026`, `28 nov. 2026`.
pub fn date(language: Language, iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    let (Some(year), Some(month), Some(day)) = (parts.first(), parts.get(1), parts.get(2)) else {
        return iso.to_string();
    };
    let (Ok(month), Ok(day)) = (month.parse::<usize>(), day.parse::<u32>()) else {
        return iso.to_string();
    };
    if !(1..=12).contains(&month) {
        return iso.to_string();
    }
    let months = match language {
        Language::English => &MONTHS_EN,
        Language::French => &MONTHS_FR,
    };
    format!("{day} {} {year}", months[month - 1])
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian calendar).
pub fn iso_date_from_days(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A moment (milliseconds since 1970, UTC) as date and time: `28 Nov 2026, 14:05 UTC`.
pub fn timestamp(language: Language, ms: u64) -> String {
    let seconds = (ms / 1000) as i64;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (hour, minute) = (second_of_day / 3600, second_of_day % 3600 / 60);
    let day = date(language, &iso_date_from_days(days));
    match language {
        Language::English => format!("{day}, {hour:02}:{minute:02} UTC"),
        Language::French => format!("{day} à {hour:02}:{minute:02} UTC"),
    }
}

/// How long ago, in words: `3 min ago`, `il y a 3 min`.
pub fn age(language: Language, ms: u64) -> String {
    let seconds = ms / 1000;
    let (value, unit_en, unit_fr) = if seconds < 60 {
        (seconds, "s", "s")
    } else if seconds < 3600 {
        (seconds / 60, "min", "min")
    } else if seconds < 86_400 {
        (seconds / 3600, "h", "h")
    } else {
        (seconds / 86_400, "days", "jours")
    };
    match language {
        Language::English => format!("{value} {unit_en} ago"),
        Language::French => format!("il y a {value} {unit_fr}"),
    }
}

/// A role, spending category, asset kind or pledge status in words (the code itself when unknown).
pub fn term(language: Language, code: &str) -> String {
    ledger::words::term(language, code).map_or_else(|| code.to_string(), str::to_string)
}

/// Entry kinds in words.
pub fn kind(language: Language, kind: &str) -> &'static str {
    let french = language == Language::French;
    match (kind, french) {
        ("genesis", false) => "log started",
        ("genesis", true) => "ouverture du journal",
        ("operator_key_rotation", false) => "operator key rotation",
        ("operator_key_rotation", true) => "changement de clé de l'opérateur",
        ("register_organisation", false) => "organisation registered",
        ("register_organisation", true) => "enregistrement d'organisation",
        ("key_rotation", false) => "key rotation",
        ("key_rotation", true) => "changement de clé",
        ("key_revocation", false) => "key revocation",
        ("key_revocation", true) => "révocation de clé",
        ("declare_asset", false) => "asset declared",
        ("declare_asset", true) => "déclaration d'actif",
        ("declare_programme", false) => "programme declared",
        ("declare_programme", true) => "déclaration de programme",
        ("donation", false) => "donation",
        ("donation", true) => "don",
        ("transfer", false) => "transfer",
        ("transfer", true) => "transfert",
        ("acknowledgement", false) => "acknowledgement",
        ("acknowledgement", true) => "accusé de réception",
        ("spend", false) => "spend",
        ("spend", true) => "dépense",
        ("pledge", false) => "pledge",
        ("pledge", true) => "promesse",
        ("attestation", false) => "attestation",
        ("attestation", true) => "attestation",
        ("pledge_release", false) => "pledge released",
        ("pledge_release", true) => "versement de promesse",
        ("pledge_void", false) => "pledge voided",
        ("pledge_void", true) => "annulation de promesse",
        ("reversal", false) => "reversal",
        ("reversal", true) => "contrepassation",
        ("conversion", false) => "conversion",
        ("conversion", true) => "conversion",
        ("refund", false) => "refund",
        ("refund", true) => "remboursement",
        ("accounts_sign_off", false) => "accounts signed off",
        ("accounts_sign_off", true) => "certification des comptes",
        ("voucher_issue", false) => "vouchers issued",
        ("voucher_issue", true) => "émission de bons",
        ("voucher_redemption", false) => "voucher redeemed",
        ("voucher_redemption", true) => "bon honoré",
        ("voucher_settlement", false) => "vouchers paid",
        ("voucher_settlement", true) => "paiement de bons",
        ("voucher_expiry", false) => "vouchers expired",
        ("voucher_expiry", true) => "expiration de bons",
        ("erasure", false) => "beneficiary data erased",
        ("erasure", true) => "données de bénéficiaire effacées",
        (_, false) => "entry",
        (_, true) => "écriture",
    }
}

/// The title of an anomaly rule.
pub fn rule_title(rule: ledger::Rule) -> T {
    match rule {
        ledger::Rule::RoundTrip => T::RuleRoundTrip,
        ledger::Rule::PassThrough => T::RulePassThrough,
        ledger::Rule::Structuring => T::RuleStructuring,
        ledger::Rule::UnacknowledgedTransfer => T::RuleUnacknowledgedTransfer,
        ledger::Rule::SpendBeforeFunds => T::RuleSpendBeforeFunds,
        ledger::Rule::SpendingSpike => T::RuleSpendingSpike,
    }
}
