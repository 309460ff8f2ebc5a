import {
  Command,
  type CommandUnknownOpts,
  Help,
  type HelpConfiguration,
  type Option,
} from '@commander-js/extra-typings';

/*
 * The top-level --help lists every command a user can run, as the contract
 * writes them ("archive init", "backup files <PATH>", "config check [FILE]"),
 * rather than commander's default of one line per group ("archive [command]"),
 * which would hide half the commands one level down.
 */

/** The command whose help is being rendered, per Help instance (commander makes one per render). */
const shownFor = new WeakMap<Help, CommandUnknownOpts>();

export function helpLayout(): HelpConfiguration {
  return {
    visibleCommands(this: Help, command: CommandUnknownOpts): CommandUnknownOpts[] {
      shownFor.set(this, command);
      const direct = Help.prototype.visibleCommands.call(this, command);
      if (command.parent !== null) return direct;
      return direct.flatMap((sub) => {
        if (sub.commands.length === 0) return [sub];
        // A group that takes arguments also runs on its own (`backup <component>`).
        const runsItself = sub.registeredArguments.length > 0;
        return [...sub.commands, ...(runsItself ? [sub] : [])];
      });
    },

    /** A command listed one level down is shown under its group's heading ("Archive:"). */
    groupItems<T extends CommandUnknownOpts | Option>(
      this: Help,
      unsortedItems: T[],
      visibleItems: T[],
      getGroup: (item: T) => string,
    ): Map<string, T[]> {
      const shown = shownFor.get(this);
      const groupOf = (item: T): string =>
        item instanceof Command && item.parent !== null && item.parent !== shown
          ? getGroup(item.parent as T)
          : getGroup(item);
      // Help's own generic signature is narrower than the items it is given.
      const group = Help.prototype.groupItems as (
        items: T[],
        visible: T[],
        by: (item: T) => string,
      ) => Map<string, T[]>;
      return group.call(this, unsortedItems, visibleItems, groupOf);
    },

    subcommandTerm(this: Help, command: CommandUnknownOpts): string {
      const term = Help.prototype.subcommandTerm.call(this, command);
      const shown = shownFor.get(this);
      const between: string[] = [];
      for (let parent = command.parent; parent !== null && parent !== shown; parent = parent.parent) {
        if (parent.parent !== null) between.unshift(parent.name());
      }
      return [...between, term].join(' ');
    },
  };
}
