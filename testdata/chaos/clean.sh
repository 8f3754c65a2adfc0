# clean: remove the recorded file, and every other file of this item: those a
# killed run created but never got to record. A careful item's clean.
case "$PEACE_STORED_STATE" in
world/*) rm -f "$PEACE_STORED_STATE" ;;
esac
rm -f world/"$PEACE_ITEM_ID"-*
