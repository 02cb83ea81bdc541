// Runs the real TOPCAT (Debian's starlink-topcat) in this JVM and drives it from standard input,
// for tests/samp/topcat.sh. TOPCAT starts as a user would start it (`topcat -samp [-hub]`, under a
// virtual X display); the commands then do what a user does with the mouse:
//
//   send CLIENT LABEL   select the table LABEL in the control window and run TOPCAT's own
//                       "Send Table to -> CLIENT" action (Interop menu); prints "sent LABEL"
//   labels              prints "label: NAME" for each loaded table, then "labels done"
//   save FILE LABEL     writes table LABEL as a VOTable (TOPCAT's own writer); prints "saved FILE"
//   consent             clicks "Yes" in the hub's next Web Profile registration dialog (what the
//                       user does when a web page asks to register); prints "consented: TEXT"
//   quit                exits (TOPCAT unregisters, and stops its hub if it runs one)
//
// Labels may contain spaces: they are the rest of the line.
//
//   java -cp /usr/share/java/starlink-topcat.jar:/usr/share/java/jsamp.jar TopcatDriver.java \
//        [TOPCAT FLAGS AND TABLES...] < commands
//
// (Java's single-file source launcher: no build step; jdk.compiler is part of the JRE image.)
import java.awt.event.ActionEvent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.Map;
import javax.swing.Action;
import javax.swing.ListModel;
import javax.swing.SwingUtilities;
import org.astrogrid.samp.Client;
import uk.ac.starlink.table.StarTable;
import uk.ac.starlink.topcat.ControlWindow;
import uk.ac.starlink.topcat.Driver;
import uk.ac.starlink.topcat.TopcatModel;
import uk.ac.starlink.topcat.interop.SampCommunicator;
import uk.ac.starlink.topcat.interop.TableSendActionManager;

public class TopcatDriver {
    public static void main(String[] args) throws Exception {
        Driver.main(args);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null; ) {
            String[] words = line.trim().split("\\s+", 3);
            try {
                switch (words[0]) {
                    case "send" -> send(words[2], words[1]);
                    case "labels" -> labels();
                    case "save" -> save(words[2], words[1]);
                    case "consent" -> consent();
                    case "quit" -> System.exit(0);
                    case "" -> { }
                    default -> System.out.println("error: unknown command " + words[0]);
                }
            } catch (Exception e) {
                System.out.println("error: " + line + ": " + e);
            }
            System.out.flush();
        }
        System.exit(0);
    }

    static TopcatModel table(String label) throws Exception {
        ListModel<TopcatModel> tables = ControlWindow.getInstance().getTablesListModel();
        for (int i = 0; i < tables.getSize(); i++) {
            if (tables.getElementAt(i).getLabel().equals(label)) return tables.getElementAt(i);
        }
        throw new IllegalArgumentException("no table labelled " + label);
    }

    static void send(String label, String clientName) throws Exception {
        TopcatModel model = table(label);
        ControlWindow control = ControlWindow.getInstance();
        SampCommunicator samp = (SampCommunicator) control.getCommunicator();
        Client target = null;
        for (Object c : ((Map<?, ?>) samp.getConnector().getClientMap()).values()) {
            Client client = (Client) c;
            if (client.getMetadata() != null && clientName.equals(client.getMetadata().getName())) target = client;
        }
        if (target == null) throw new IllegalArgumentException("no SAMP client named " + clientName);
        Action action = ((TableSendActionManager) samp.getTableTransmitter()).getSendAction(target);
        // The send action sends the control window's current table, as the menu item does.
        SwingUtilities.invokeAndWait(() -> {
            control.getTablesList().setSelectedValue(model, true);
            action.actionPerformed(new ActionEvent(control, ActionEvent.ACTION_PERFORMED, "send"));
        });
        System.out.println("sent " + label);
    }

    static void consent() throws Exception {
        for (int tries = 0; tries < 600; tries++) {
            javax.swing.JButton[] yes = new javax.swing.JButton[1];
            SwingUtilities.invokeAndWait(() -> {
                for (java.awt.Window w : java.awt.Window.getWindows()) {
                    if (w instanceof javax.swing.JDialog d && d.isVisible() && yes[0] == null) yes[0] = button(d, "yes");
                }
            });
            if (yes[0] != null) {
                SwingUtilities.invokeAndWait(yes[0]::doClick);
                System.out.println("consented: " + yes[0].getText());
                return;
            }
            Thread.sleep(100);
        }
        System.out.println("error: no registration dialog appeared");
    }

    static javax.swing.JButton button(java.awt.Container c, String text) {
        for (java.awt.Component child : c.getComponents()) {
            if (child instanceof javax.swing.JButton b && b.getText() != null && b.getText().toLowerCase().startsWith(text)) return b;
            if (child instanceof java.awt.Container inner) {
                javax.swing.JButton found = button(inner, text);
                if (found != null) return found;
            }
        }
        return null;
    }

    static void labels() throws Exception {
        ListModel<TopcatModel> tables = ControlWindow.getInstance().getTablesListModel();
        for (int i = 0; i < tables.getSize(); i++) System.out.println("label: " + tables.getElementAt(i).getLabel());
        System.out.println("labels done");
    }

    static void save(String label, String file) throws Exception {
        StarTable table = table(label).getDataModel();
        ControlWindow.getInstance().getTableOutput().writeStarTable(table, file, "votable");
        System.out.println("saved " + file);
    }
}
