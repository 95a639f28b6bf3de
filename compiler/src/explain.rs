//! `hacmp explain CODE`: what each code means, with a wrong and a right
//! example. An exhaustive match: a new code does not build without its text.

use crate::code::Code;

pub struct Explanation {
    pub text: &'static str,
    /// A file name and content that triggers the code.
    pub wrong: (&'static str, &'static str),
    /// The same input, corrected.
    pub right: (&'static str, &'static str),
}

const SYSTEM_RULE: &str = "TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n";

pub fn explain(code: Code) -> Explanation {
    use Code::*;
    let e = |text, wrong, right| Explanation { text, wrong, right };
    match code {
        R001 => e(
            "Every event definition in rules.hacmprd is exactly nine lines (comment lines starting \
             with `#` are not counted; empty lines are). When the number of counted lines is not a \
             multiple of nine, the last event is incomplete. The original manager read such a file \
             without complaint and hung the node. The diagnostic says how many lines the last event \
             has and which fields are missing.",
            ("rules.hacmprd", "TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n"),
            ("rules.hacmprd", SYSTEM_RULE),
        ),
        R002 => e(
            "A field does not have the shape its position demands: the name (field 1) is an \
             identifier, the state (field 2) an integer, the program (field 3) a path, the resource \
             variable (field 6) a dotted name. This almost always means a line is missing or extra \
             earlier on, which shifts every later field. The linter tries shifting by -2 to +2 lines \
             and says which line is most likely missing or extra when the following events line up \
             again.",
            ("rules.hacmprd", "TE_JOIN_NODE\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\nTE_FAIL_NODE\n0\n/usr/sbin/cluster/events/node_down.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", "TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\nTE_FAIL_NODE\n0\n/usr/sbin/cluster/events/node_down.rp\n2\n0\n\n\n\n\n"),
        ),
        R003 => e(
            "Event names must be unique in the rules file: the manager picks the rule by name and \
             state, so a second rule with the same name is either dead or, worse, silently wins on \
             some nodes.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\n\n\n\n\nUE_A\n0\n/b.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\n\n\n\n\nUE_B\n0\n/b.rp\n2\n0\n\n\n\n\n"),
        ),
        R004 => e(
            "The recovery program (field 3) must be given with its full path, because the manager \
             does not search for it. A path that does not end in `.rp` is a warning: it is legal, \
             but usually a script named where its program belongs.",
            ("rules.hacmprd", "UE_A\n0\nlocal/a.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/usr/sbin/cluster/local/a.rp\n2\n0\n\n\n\n\n"),
        ),
        R005 => e(
            "The recovery program named in field 3 does not exist (under `--root DIR` when given). \
             The original found out only when the event happened. Use `--no-fs` to lint files \
             before they are staged.",
            ("rules.hacmprd", "UE_A\n0\n/nonexistent/a.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/usr/sbin/cluster/local/a.rp\n2\n0\n\n\n\n\n"),
        ),
        R006 => e(
            "Fields 4 (recovery type) and 5 (recovery level) are reserved and not interpreted, but \
             a value must be there, and it must be an integer: the documentation always writes `2` \
             and `0`.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\ntwo\n0\n\n\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\n\n\n\n\n"),
        ),
        R007 => e(
            "Fields 6 to 9 describe the Event Management condition of a user-defined event. Either \
             all are empty (a system or externally raised event), or the resource variable, \
             instance vector and predicate are all given (the rearm predicate is optional). A \
             predicate without a variable, or a variable without a predicate, can never fire.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0==0\nX@0>0\n"),
        ),
        R008 => e(
            "The resource variable is not in the catalog, so its instance elements and value type \
             cannot be checked, and the monitor does not sample it. Sites add their own variables \
             in the `[[catalog]]` section of the site configuration.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcnt\nNodeNum=*\nX@0==0\nX@0>0\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*\nX@0==0\nX@0>0\n"),
        ),
        R009 => e(
            "An instance vector is a list of `name=value` elements separated by `;`, where the value \
             `*` matches every copy of the variable and an element left out matches every value. \
             Each name may appear once and must be an element of the variable (see the catalog).",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;Program=a\nX@0==0\nX@0>0\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0==0\nX@0>0\n"),
        ),
        R010 => e(
            "The predicate or rearm predicate is not a valid expression. Predicates are a subset of \
             C: `X`, `X@n`, `X@P`, numbers, double-quoted strings, the operators `! - ~ * / % + - \
             << >> < <= > >= == != & ^ | && ||` and parentheses. A single `=` is not an operator: \
             write `==`.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0=0\nX@0>0\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0==0\nX@0>0\n"),
        ),
        R011 => e(
            "The predicate parses but does not fit the variable's type: `X@n` on a plain number, `X` \
             alone or `X@P` on a structured value, a field number past the last field, a string \
             compared with a number, a string in arithmetic, bitwise operators or `%` on floats. \
             The whole predicate must be a number (non-zero is true).",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*;Mount=/tmp\nX@0>90\nX@0<80\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*;Mount=/tmp\nX>90\nX<80\n"),
        ),
        R012 => e(
            "After an event the rule is disarmed until the rearm predicate is true; then it is armed \
             again. When the predicate and the rearm predicate can be true on the same value, \
             there is no hysteresis: the event can fire, rearm and fire again on every small \
             fluctuation. The warning shows a value on which both are true (found, and checked by \
             evaluating both). When no such value is found and none is ruled out (the analysis \
             runs the predicates on intervals of values, within a budget), the linter says it could \
             not decide, as information. Without a rearm predicate the rule never disarms and \
             fires on every observation where the predicate holds (reported as information).",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*;Mount=/tmp\nX>90\nX>80\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.aixos.FS.%totused\nNodeNum=*;Mount=/tmp\nX>90\nX<80\n"),
        ),
        R013 => e(
            "Empty lines count as fields in rules.hacmprd, so blank lines after the last complete \
             event start a new, incomplete event. The original manager hung the node on such a \
             file, even for a single extra blank line at the end. Delete them (a final line feed \
             after field 9 is normal).",
            ("rules.hacmprd", "TE_JOIN_NODE\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n\n"),
            ("rules.hacmprd", SYSTEM_RULE),
        ),
        R014 => e(
            "Names starting with `TE_` belong to the cluster's system events, which are raised by \
             membership changes, not by Event Management: fields 6 to 9 of a `TE_` rule are never \
             used. A `TE_` name that is not one of the standard system events is never raised: user \
             events are usually named `UE_`.",
            ("rules.hacmprd", "TE_JOIN_NODES\n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", SYSTEM_RULE),
        ),
        R015 => e(
            "The original takes every character of a field literally: a path with a trailing blank \
             is a different file, and a file saved with CRLF line ends has a carriage return in \
             every field. The linter reads the value without it, but the original would not.",
            ("rules.hacmprd", "TE_JOIN_NODE \n0\n/usr/sbin/cluster/events/node_up.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", SYSTEM_RULE),
        ),
        R016 => e(
            "The predicate is proven to give the same result for every value (or does not read the \
             value at all), so it is always true or always false: the rule either fires on every \
             observation or never. The proof runs the predicate on intervals of values; when it \
             cannot decide and every value tried gave one result, the linter says so, as \
             information, and does not claim the predicate is constant.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0>5&&X@0<3\nX@0>0\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0==0\nX@0>0\n"),
        ),
        R017 => e(
            "Division or remainder by the literal `0` makes every evaluation fail (and so be false). \
             Division by a value that is zero only at run time is allowed: that evaluation is false \
             and reported once.",
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0/0>1\nX@0>0\n"),
            ("rules.hacmprd", "UE_A\n0\n/a.rp\n2\n0\nIBM.PSSP.Prog.xpcount\nNodeNum=*;ProgName=a\nX@0/2>1\nX@0>0\n"),
        ),
        P001 => e(
            "A command line starts with its node set: `all` (every member of the event), `event` \
             (only the node where the event happened) or `other` (every member but that node). \
             Case does not matter.",
            ("a.rp", "allnodes \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P002 => e(
            "The recovery command is a double-quoted string: `\"/path/to/cmd arg\"`. The original \
             has no escape for quotes inside it, so a quote must not appear in the command.",
            ("a.rp", "all /usr/sbin/cluster/local/a 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P003 => e(
            "The expected exit status follows the command: an integer from 0 to 255, or `X` to \
             accept any status. A command whose status differs from the expected one is a failure \
             of the event.",
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" ok NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P004 => e(
            "Every command line ends with the reserved word `NULL`, in capitals, and nothing may \
             follow it (not even a comment).",
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P005 => e(
            "A barrier line is the word `barrier` alone. Other words after it are ignored; `NULL` \
             is tolerated with this warning.",
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\nbarrier NULL\nall \"/usr/sbin/cluster/local/b\" 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\nbarrier\nall \"/usr/sbin/cluster/local/b\" 0 NULL\n"),
        ),
        P006 => e(
            "A command without a `/` is the name of one of the product's event scripts, looked up \
             in the site's event-script definitions (the standard library supplies the product's \
             names). Any other command must be given with its absolute path; a relative path is \
             never right, because commands run with `/` as working directory.",
            ("a.rp", "all \"node_upp\" 0 NULL\n"),
            ("a.rp", "all \"node_up\" 0 NULL\n"),
        ),
        P007 => e(
            "The command's file does not exist or is not executable (looked up under `--root DIR` \
             when given). The original found out when the event happened, and hung.",
            ("a.rp", "all \"/nonexistent/command\" 0 NULL\n"),
            ("a.rp", "all \"/bin/true\" 0 NULL\n"),
        ),
        P008 => e(
            "Recovery programs and their commands run as root on every node. A `.rp` file or \
             command that a group or other users can write, or that is owned by someone other \
             than root or the user running the linter, lets that user run anything as root.",
            ("a.rp", "all \"/tmp/world-writable-script\" 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P009 => e(
            "No shell runs the command: the string is split on blanks into a program and its \
             arguments. Pipes, redirections, `;`, `&`, `$VAR` and wildcards are passed as literal \
             arguments. Put shell logic in a script and name the script.",
            ("a.rp", "all \"/usr/sbin/cluster/local/a > /tmp/log\" 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P010 => e(
            "A barrier makes every node wait for the others. A barrier before any command, two \
             barriers in a row, or a barrier at the end synchronise nothing: the closing cbarrier \
             already ends every program.",
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\nbarrier\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P011 => e(
            "The recovery program has no command line (only comments, blank lines or barriers): \
             when the event happens, every node runs nothing and meets at the closing cbarrier. \
             Usually the program is not written yet, or its lines were commented out.",
            ("a.rp", "# nothing yet\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
        ),
        P012 => e(
            "Every command of the program is for `event` (only the event's node), or every one is \
             for `other`: on each event some nodes run nothing. This is often intended; it can \
             also be a wrong node set.",
            ("a.rp", "event \"/usr/sbin/cluster/local/a\" 0 NULL\n"),
            ("a.rp", "event \"/usr/sbin/cluster/local/a\" 0 NULL\nother \"/usr/sbin/cluster/local/b\" 0 NULL\n"),
        ),
        F001 => e(
            "A file that the site names (a rules file, a recovery program, a site configuration) \
             cannot be read: it is missing, a directory, or not readable by the linter.",
            ("rules.hacmprd", "UE_A\n0\n/a-directory.rp\n2\n0\n\n\n\n\n"),
            ("rules.hacmprd", "UE_A\n0\n/usr/sbin/cluster/local/a.rp\n2\n0\n\n\n\n\n"),
        ),
        F002 => e(
            "The file is not UTF-8 text. The diagnostic points at the first byte that is not. Files \
             written by an editor in another encoding must be converted.",
            ("rules.hacmprd", "(saved as Latin-1: `TE_JOIN_NODE` then the byte 0xA0, a no-break space)"),
            ("rules.hacmprd", SYSTEM_RULE),
        ),
        F003 => e(
            "A path in the rules, a recovery program or the site file has a `..` component. Under \
             a staging root such a path could name a file outside it, so a check would look at one \
             file and the node would run another; and no path is clearer with `..` than without. \
             Paths are refused with it, at lint and when a command runs.",
            ("a.rp", "all \"/usr/sbin/cluster/local/../../../../usr/bin/id\" 0 NULL\n"),
            ("a.rp", "all \"/usr/sbin/cluster/local/report\" 0 NULL\n"),
        ),
        S001 => e(
            "The site configuration (TOML) does not parse, or a value is wrong: an unknown key, a \
             duration without a unit, a node number used twice, a relative command path. The \
             diagnostic points at the value.",
            ("site.toml", "[cluster]\nid = 1\nname = \"demo\"\nsettle = \"200\"\n"),
            ("site.toml", "[cluster]\nid = 1\nname = \"demo\"\nsettle = \"200ms\"\n"),
        ),
        S002 => e(
            "The site file refers by name to something the site does not have: `[rules.X]` for a \
             rule that is not in the rules file (its failure policy would apply to nothing), or \
             `[event_scripts.X]` for a script that is not a standard one and that no program uses \
             (a warning). Usually a typo; the help names the closest name.",
            ("site.toml", "[rules.TE_JION_NODE]\non_failure = \"abort\"\n"),
            ("site.toml", "[rules.TE_JOIN_NODE]\non_failure = \"abort\"\n"),
        ),
        S003 => e(
            "The site sets `[cluster] bundles = \"unsigned\"`: its nodes stage, switch to and run \
             bundles that nobody signed, so whoever can write the cluster's etcd can deploy any \
             command to run as root on every node. Meant for labs. Without the line, every node \
             checks each deployed bundle's Ed25519 signature against the keys in its \
             `/etc/hacmp/trusted-keys/` (`hacmp key new`, `hacmp deploy --key`). The setting \
             counts from the bundle a node already runs, never from the one offered.",
            ("site.toml", "[cluster]\nid = 1\nname = \"lab\"\nbundles = \"unsigned\"\n"),
            ("site.toml", "[cluster]\nid = 1\nname = \"lab\"\n"),
        ),
        G001 => e(
            "A resource group lists a node (by name or number) that no `[[node]]` of the site \
             defines. The group could never be placed there; usually the name is misspelt or the \
             node was taken out of the cluster and not out of the group.",
            ("site.toml", "[[node]]\nnumber = 1\nname = \"a\"\n\n[[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [\"a\", \"b\"]\n"),
            ("site.toml", "[[node]]\nnumber = 1\nname = \"a\"\n[[node]]\nnumber = 2\nname = \"b\"\n\n[[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [\"a\", \"b\"]\n"),
        ),
        G002 => e(
            "A service address (or an adapter's address) is not inside the subnet of the network \
             it is declared on. Clients of that network would not reach it, and the node that \
             takes it over would route it through the wrong interface.",
            ("site.toml", G_NET_NODE_A),
            ("site.toml", G_NET_NODE_A_RIGHT),
        ),
        G003 => e(
            "The same service address, mount point or device belongs to two resource groups (or \
             twice to one). Two groups may be online on two nodes at once, so the address or file \
             system would be active on both: exactly what takeover must never allow.",
            ("site.toml", "[[resource_group]]\nname = \"a\"\npolicy = \"rotating\"\nnodes = []\n[[resource_group.resource]]\nkind = \"filesystem\"\ndevice = \"/dev/vg/a\"\nmount_point = \"/srv\"\n\n[[resource_group]]\nname = \"b\"\npolicy = \"rotating\"\nnodes = []\n[[resource_group.resource]]\nkind = \"filesystem\"\ndevice = \"/dev/vg/b\"\nmount_point = \"/srv\"\n"),
            ("site.toml", "[[resource_group]]\nname = \"a\"\npolicy = \"rotating\"\nnodes = []\n[[resource_group.resource]]\nkind = \"filesystem\"\ndevice = \"/dev/vg/a\"\nmount_point = \"/srv/a\"\n\n[[resource_group]]\nname = \"b\"\npolicy = \"rotating\"\nnodes = []\n[[resource_group.resource]]\nkind = \"filesystem\"\ndevice = \"/dev/vg/b\"\nmount_point = \"/srv/b\"\n"),
        ),
        G004 => e(
            "A group holds a service address on a network, and one of the group's nodes has no \
             adapter on that network. When the group moves there, the node has no interface to \
             put the address on and the takeover fails.",
            ("site.toml", "[[network]]\nname = \"net0\"\nsubnet = \"10.0.0.0/24\"\n\n[[node]]\nnumber = 1\nname = \"a\"\n\n[[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [\"a\"]\n[[resource_group.resource]]\nkind = \"service_ip\"\nnetwork = \"net0\"\naddress = \"10.0.0.100\"\n"),
            ("site.toml", G_NET_NODE_A_RIGHT),
        ),
        G005 => e(
            "A command an application or custom resource runs (start, stop, monitor, agent) does \
             not exist under the staging root, is not a file, or is not executable. The group \
             could come online without its application, or never stop it.",
            ("site.toml", "(an application whose start command /usr/local/bin/web-start is missing)"),
            ("site.toml", "(every start, stop and monitor command is installed and executable)"),
        ),
        G006 => e(
            "Resource groups name each other in `after` so that each waits for another: none of \
             them could come online. Dependencies must form an order.",
            ("site.toml", "[[resource_group]]\nname = \"app\"\npolicy = \"rotating\"\nnodes = []\nafter = [\"db\"]\n\n[[resource_group]]\nname = \"db\"\npolicy = \"rotating\"\nnodes = []\nafter = [\"app\"]\n"),
            ("site.toml", "[[resource_group]]\nname = \"app\"\npolicy = \"rotating\"\nnodes = []\nafter = [\"db\"]\n\n[[resource_group]]\nname = \"db\"\npolicy = \"rotating\"\nnodes = []\n"),
        ),
        N001 => e(
            "Every node must have the same rules file, recovery programs and commands (the original \
             required it and checked nothing). With `--nodes ROOT...`, the linter compares the \
             files of the site as staged for each node and reports each that differs or is \
             missing on some.",
            ("rules.hacmprd", "(n1 and n2 hold different copies of /usr/sbin/cluster/local/a.rp)"),
            ("rules.hacmprd", "(every node holds the same copy)"),
        ),
    }
}

const G_NET_NODE_A: &str = "[[network]]\nname = \"net0\"\nsubnet = \"10.0.0.0/24\"\n\n[[node]]\nnumber = 1\nname = \"a\"\n[[node.adapter]]\nnetwork = \"net0\"\ninterface = \"eth0\"\nrole = \"boot\"\naddress = \"10.0.0.1\"\n\n[[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [\"a\"]\n[[resource_group.resource]]\nkind = \"service_ip\"\nnetwork = \"net0\"\naddress = \"10.0.1.100\"\n";
const G_NET_NODE_A_RIGHT: &str = "[[network]]\nname = \"net0\"\nsubnet = \"10.0.0.0/24\"\n\n[[node]]\nnumber = 1\nname = \"a\"\n[[node.adapter]]\nnetwork = \"net0\"\ninterface = \"eth0\"\nrole = \"boot\"\naddress = \"10.0.0.1\"\n\n[[resource_group]]\nname = \"web\"\npolicy = \"cascading\"\nnodes = [\"a\"]\n[[resource_group.resource]]\nkind = \"service_ip\"\nnetwork = \"net0\"\naddress = \"10.0.0.100\"\n";
