//! A plain explanation for journalists: what a green check proves and what it cannot.

use leptos::prelude::*;

use crate::app::{ctx, use_title};
use crate::i18n::{Language, T};

#[component]
pub fn Proofs() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::NavProofs).to_string());
    move || {
        match c.language.get() {
        Language::English => view! {
            <article class="prose">
                <h1>"What a green check proves, and what it cannot"</h1>
                <h2>"What it proves"</h2>
                <ul>
                    <li><strong>"This exact entry was recorded."</strong>
                        " Your browser recomputed the entry's fingerprint (its leaf hash) from its bytes, and walked the
                        inclusion proof from that fingerprint up to the root of the log. Changing a single character of the
                        entry changes the fingerprint, and the path no longer reaches the root."</li>
                    <li><strong>"It was signed by that key."</strong>
                        " The organisation's Ed25519 signature over the entry checks out, and the signature is bound to this
                        log, so it cannot be replayed into another."</li>
                    <li><strong>"The log vouches for it."</strong>
                        " The root is part of a checkpoint signed by the log's key: the key you trust (set when this explorer
                        was built, or pinned by you), not merely the key the server presents."</li>
                    <li><strong>"The log has not been rewritten since you last looked."</strong>
                        " This browser remembers the checkpoints it verified; on every visit it checks a consistency proof
                        that the new log still contains the old one, unchanged. If it does not, the Audit page raises an alarm
                        and shows both signed checkpoints so that you can publish them."</li>
                </ul>
                <h2>"What it cannot prove"</h2>
                <ul>
                    <li>"That the money was really spent as recorded. The ledger proves what each organisation "
                        <em>"stated"</em>", and that it cannot later deny or quietly change it. Whether the medicines were
                        bought, the clinic exists and the beneficiary was treated is a matter for audits, receipts and
                        field visits."</li>
                    <li>"Who a beneficiary is. Beneficiaries appear only as salted commitments: even the log cannot name
                        them."</li>
                    <li>"That you saw the same log as everyone else, unless you compare checkpoints with others. Publishing
                        the checkpoints you saw (they are short signed texts) is how readers catch a log that shows different
                        histories to different people."</li>
                </ul>
                <h2>"Checking independently"</h2>
                <p>"Anyone can download and check the whole log without this website:"</p>
                <pre>"aidtrail verify https://THIS-SERVER/ --key 'VERIFIER KEY'"</pre>
                <p>"It downloads every entry through the public tiles, checks every signature, replays every money rule
                    from scratch, recomputes the root, checks the checkpoint's signature and remembers it, so that the next
                    run proves the log only grew. The log also follows the C2SP tlog-tiles format, so other transparency-log
                    tools can audit it."</p>
            </article>
        }.into_any(),
        Language::French => view! {
            <article class="prose">
                <h1>"Ce que prouve une coche verte, et ce qu'elle ne peut pas prouver"</h1>
                <h2>"Ce qu'elle prouve"</h2>
                <ul>
                    <li><strong>"Cette écriture exacte a été enregistrée."</strong>
                        " Votre navigateur a recalculé l'empreinte de l'écriture (son empreinte de feuille) à partir de ses
                        octets, puis a suivi la preuve d'inclusion jusqu'à la racine du journal. Changer un seul caractère
                        change l'empreinte, et le chemin n'atteint plus la racine."</li>
                    <li><strong>"Elle a été signée par cette clé."</strong>
                        " La signature Ed25519 de l'organisation est valide, et elle est liée à ce journal : elle ne peut pas
                        être rejouée dans un autre."</li>
                    <li><strong>"Le journal s'en porte garant."</strong>
                        " La racine fait partie d'un point de contrôle signé par la clé du journal : la clé en laquelle vous
                        avez confiance (fixée à la construction de l'explorateur, ou épinglée par vous), pas seulement celle
                        que présente le serveur."</li>
                    <li><strong>"Le journal n'a pas été réécrit depuis votre dernière visite."</strong>
                        " Ce navigateur garde les points de contrôle vérifiés ; à chaque visite il vérifie une preuve de
                        cohérence montrant que le nouveau journal contient l'ancien, inchangé. Sinon, la page Audit donne
                        l'alerte et affiche les deux points de contrôle signés pour que vous puissiez les publier."</li>
                </ul>
                <h2>"Ce qu'elle ne peut pas prouver"</h2>
                <ul>
                    <li>"Que l'argent a réellement été dépensé comme indiqué. Le registre prouve ce que chaque organisation a "
                        <em>"déclaré"</em>", et qu'elle ne peut ensuite ni le nier ni le modifier discrètement. Que les
                        médicaments aient été achetés, que la clinique existe et que le patient ait été soigné relève des
                        audits, des justificatifs et des visites de terrain."</li>
                    <li>"Qui est un bénéficiaire. Les bénéficiaires n'apparaissent que sous forme d'engagements salés :
                        même le journal ne peut pas les nommer."</li>
                    <li>"Que vous avez vu le même journal que tout le monde, sauf si vous comparez vos points de contrôle
                        avec d'autres. Publier ceux que vous avez vus (de courts textes signés) permet de détecter un journal
                        qui montrerait des historiques différents à différentes personnes."</li>
                </ul>
                <h2>"Vérifier de façon indépendante"</h2>
                <p>"Chacun peut télécharger et vérifier tout le journal sans ce site :"</p>
                <pre>"aidtrail verify https://CE-SERVEUR/ --key 'CLÉ DE VÉRIFICATION'"</pre>
                <p>"La commande télécharge chaque écriture par les tuiles publiques, vérifie chaque signature, rejoue
                    chaque règle financière depuis le début, recalcule la racine, vérifie la signature du point de
                    contrôle et le mémorise, pour que la vérification suivante prouve que le journal n'a fait que grandir.
                    Le journal suit le format C2SP tlog-tiles : d'autres outils de journaux de transparence peuvent
                    l'auditer."</p>
            </article>
        }.into_any(),
    }
    }
}
